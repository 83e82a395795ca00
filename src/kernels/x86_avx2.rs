//! AVX2 kernels (`kernels/x86/avx2.c`: ternary; `kernels/x86/avx2_int.c`:
//! b-bit integers; `kernels/x86/avx2_veclut.c`: the ternary vector-LUT;
//! `kernels/x86/avx2_mad5.c`: ternary at five weights per byte): FFI
//! declarations and descriptors. Design notes, bounds
//! and measurements are in the C files.
//!
//! The ternary kernels read the same layouts as the portable ones, so one
//! packed matrix serves both and the portable kernel checks these on the
//! very same bytes.

use super::{INT_ALL, INT_AND_TERNARY, INT_MAD, INT12, KernelDesc, TERNARY};
use crate::layout::Layout;

c_functions! {
    kernels: lutgemm_avx2_int_mad, lutgemm_avx2_int_bitlut_g4, lutgemm_avx2_int_bitlut_g4_fast,
        lutgemm_avx2_int_bitlut_g4_float, lutgemm_avx2_ternary_mad, lutgemm_avx2_ternary_lut_g2,
        lutgemm_avx2_ternary_veclut_g4, lutgemm_avx2_ternary_mad5, lutgemm_avx2_int_veclut, lutgemm_avx2_ternary_veclut_g4_float, lutgemm_avx2_ternary_veclut_g4_fast,
        lutgemm_avx2_int_veclut_float, lutgemm_avx2_int_veclut_fast;
    tables: lutgemm_avx2_int_bitlut_g4_tables, lutgemm_avx2_int_bitlut_g4_fast_tables, lutgemm_avx2_ternary_lut_g2_tables
}

// One descriptor a line: a table.
#[rustfmt::skip]
pub(crate) const KERNELS: &[KernelDesc] = &[
    kernel!("mad_avx2", Avx2, TERNARY, Exact, Layout::TernaryMad { mr: 8, kc: 128 },
            lutgemm_avx2_ternary_mad, None),
    kernel!("mad5_avx2", Avx2, TERNARY, Exact, Layout::TernaryMad5 { mr: 32 },
            lutgemm_avx2_ternary_mad5, None),
    kernel!("lut_g2_avx2", Avx2, TERNARY, Exact, Layout::TernaryLutG2 { mr: 32, kc: 4 },
            lutgemm_avx2_ternary_lut_g2, Some(lutgemm_avx2_ternary_lut_g2_tables)),
    kernel!("veclut_g4_avx2", Avx2, TERNARY, Exact, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_avx2_ternary_veclut_g4, None),
    kernel!("mad_int_avx2", Avx2, INT_MAD, Exact, Layout::IntMad { mr: 16 },
            lutgemm_avx2_int_mad, None),
    kernel!("bitlut_g4_avx2", Avx2, INT_ALL, Exact, Layout::IntBitLutG4 { mr: 32 },
            lutgemm_avx2_int_bitlut_g4, Some(lutgemm_avx2_int_bitlut_g4_tables)),
    kernel!("bitlut_g4_fast_avx2", Avx2, INT_AND_TERNARY, Fast, Layout::IntBitLutG4 { mr: 32 },
            lutgemm_avx2_int_bitlut_g4_fast, Some(lutgemm_avx2_int_bitlut_g4_fast_tables)),
    // Float tables: the portable builder is < 1% of a Float GEMV.
    kernel!("bitlut_g4_float_avx2", Avx2, INT_AND_TERNARY, Float, Layout::IntBitLutG4 { mr: 32 },
            lutgemm_avx2_int_bitlut_g4_float, None),
    // Tables built per call in its scratch (kernels/veclut_int.h).
    kernel!("veclut_int_avx2", Avx2, INT_ALL, Exact, Layout::IntVecLut { mr: 64 },
            lutgemm_avx2_int_veclut, None),
    // f32 table rows built per call from xpad (kernels/veclut_float.h).
    kernel!("veclut_g4_float_avx2", Avx2, TERNARY, Float, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_avx2_ternary_veclut_g4_float, None),
    // int8 rows re-quantized per span and token (kernels/veclut_float.h).
    kernel!("veclut_g4_fast_avx2", Avx2, TERNARY, Fast, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_avx2_ternary_veclut_g4_fast, None),
    // The same kernels on integer codes, two nibble rows a byte.
    kernel!("veclut_int_float_avx2", Avx2, INT_ALL, Float, Layout::IntVecLut { mr: 64 },
            lutgemm_avx2_int_veclut_float, None),
    kernel!("veclut_int_fast_avx2", Avx2, INT12, Fast, Layout::IntVecLut { mr: 64 },
            lutgemm_avx2_int_veclut_fast, None),
];
