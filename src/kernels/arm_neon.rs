//! aarch64 baseline NEON kernels (`kernels/arm/neon.c`, Armv8.0: `tbl`
//! lookups and widening multiply-adds, no dotprod; `kernels/arm/neon_veclut.c`:
//! the ternary vector-LUT; `kernels/arm/neon_mad5.c`: five ternary weights
//! per byte): FFI declarations and
//! descriptors. Loop orders, bounds and instruction counts are in the C
//! file.

use super::{INT_ALL, INT_AND_TERNARY, INT_MAD, INT12, KernelDesc, TERNARY};
use crate::layout::Layout;

c_functions! {
    kernels: lutgemm_neon_ternary_mad, lutgemm_neon_ternary_lut_g2, lutgemm_neon_ternary_lut_g4,
        lutgemm_neon_int_mad, lutgemm_neon_int_bitlut_g4, lutgemm_neon_int_bitlut_g4_fast,
        lutgemm_neon_int_bitlut_g4_float, lutgemm_neon_ternary_veclut_g4,
        lutgemm_neon_ternary_mad5, lutgemm_neon_int_veclut, lutgemm_neon_ternary_veclut_g4_float, lutgemm_neon_ternary_veclut_g4_fast,
        lutgemm_neon_int_veclut_float, lutgemm_neon_int_veclut_fast;
    tables: lutgemm_neon_ternary_lut_g2_tables, lutgemm_neon_ternary_lut_g4_tables,
        lutgemm_neon_int_bitlut_g4_tables
}

// One descriptor a line: a table. Fast and Float use the portable table
// builders.
#[rustfmt::skip]
pub(crate) const KERNELS: &[KernelDesc] = &[
    kernel!("mad_neon", Neon, TERNARY, Exact, Layout::TernaryMad { mr: 8, kc: 64 },
            lutgemm_neon_ternary_mad, None),
    kernel!("mad5_neon", Neon, TERNARY, Exact, Layout::TernaryMad5 { mr: 16 },
            lutgemm_neon_ternary_mad5, None),
    kernel!("lut_g2_neon", Neon, TERNARY, Exact, Layout::TernaryLutG2 { mr: 64, kc: 4 },
            lutgemm_neon_ternary_lut_g2, Some(lutgemm_neon_ternary_lut_g2_tables)),
    kernel!("lut_g4_neon", Neon, TERNARY, Exact, Layout::TernaryLutG4 { mr: 64, kc: 4 },
            lutgemm_neon_ternary_lut_g4, Some(lutgemm_neon_ternary_lut_g4_tables)),
    kernel!("veclut_g4_neon", Neon, TERNARY, Exact, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_neon_ternary_veclut_g4, None),
    kernel!("mad_int_neon", Neon, INT_MAD, Exact, Layout::IntMad { mr: 16 },
            lutgemm_neon_int_mad, None),
    kernel!("bitlut_g4_neon", Neon, INT_ALL, Exact, Layout::IntBitLutG4 { mr: 16 },
            lutgemm_neon_int_bitlut_g4, Some(lutgemm_neon_int_bitlut_g4_tables)),
    kernel!("bitlut_g4_fast_neon", Neon, INT_AND_TERNARY, Fast, Layout::IntBitLutG4 { mr: 16 },
            lutgemm_neon_int_bitlut_g4_fast, None),
    kernel!("bitlut_g4_float_neon", Neon, INT_AND_TERNARY, Float, Layout::IntBitLutG4 { mr: 16 },
            lutgemm_neon_int_bitlut_g4_float, None),
    // Tables built per call in its scratch (kernels/veclut_int.h).
    kernel!("veclut_int_neon", Neon, INT_ALL, Exact, Layout::IntVecLut { mr: 64 },
            lutgemm_neon_int_veclut, None),
    // f32 table rows built per call from xpad (kernels/veclut_float.h).
    kernel!("veclut_g4_float_neon", Neon, TERNARY, Float, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_neon_ternary_veclut_g4_float, None),
    // int8 rows re-quantized per span and token (kernels/veclut_float.h).
    kernel!("veclut_g4_fast_neon", Neon, TERNARY, Fast, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_neon_ternary_veclut_g4_fast, None),
    // The same kernels on integer codes, two nibble rows a byte.
    kernel!("veclut_int_float_neon", Neon, INT_ALL, Float, Layout::IntVecLut { mr: 64 },
            lutgemm_neon_int_veclut_float, None),
    kernel!("veclut_int_fast_neon", Neon, INT12, Fast, Layout::IntVecLut { mr: 64 },
            lutgemm_neon_int_veclut_fast, None),
];
