//! AVX-512 kernels (`kernels/x86/avx512.c`: ternary;
//! `kernels/x86/avx512_int.c`: b-bit integers; `avx512_veclut.c`: the
//! ternary vector-LUT; `avx512_mad5.c`: ternary at five weights per byte;
//! F/BW/VL/DQ + VBMI + VNNI):
//! FFI declarations and descriptors. See the C files for each kernel's
//! design and the measurements behind its layout.

use super::{INT_ALL, INT_AND_TERNARY, INT_MAD, INT2, INT12, KernelDesc, TERNARY};
use crate::layout::Layout;

c_functions! {
    kernels: lutgemm_avx512_int_mad, lutgemm_avx512_int_mad_fr, lutgemm_avx512_ternary_mad_fr, lutgemm_avx512_int_bitlut_g4,
        lutgemm_avx512_int_bitlut_g4_fast, lutgemm_avx512_int_bitlut_g4_float, lutgemm_avx512_ternary_mad, lutgemm_avx512_ternary_lut_g2,
        lutgemm_avx512_ternary_lut_g4, lutgemm_avx512_ternary_veclut_g4,
        lutgemm_avx512_ternary_mad5, lutgemm_avx512_int_veclut, lutgemm_avx512_ternary_veclut_g4_float, lutgemm_avx512_ternary_veclut_g4_fast,
        lutgemm_avx512_int_veclut_float, lutgemm_avx512_int_veclut_fast;
    tables: lutgemm_avx512_int_bitlut_g4_tables, lutgemm_avx512_int_bitlut_g4_fast_tables, lutgemm_avx512_ternary_lut_g2_tables, lutgemm_avx512_ternary_lut_g4_tables
}

// One descriptor a line: a table.
#[rustfmt::skip]
pub(crate) const KERNELS: &[KernelDesc] = &[
    // Listed first, so selection takes it for ternary multiply-add: the
    // 2-bit field-rows layout with codes w + 1 (avx512_int.c, "Layout A'"):
    // 80 against 89 us at 4096 × 4096, n = 1 (src/select.rs).
    kernel!("mad_fr_avx512", Avx512, TERNARY, Exact, Layout::MadFieldRows { mr: 64 },
            lutgemm_avx512_ternary_mad_fr, None),
    // 8 rows share each activation load; kc = 256 is one 64-byte load per
    // row and chunk, decoded into 4 × 64 codes.
    kernel!("mad_avx512", Avx512, TERNARY, Exact, Layout::TernaryMad { mr: 8, kc: 256 },
            lutgemm_avx512_ternary_mad, None),
    // 32 rows (2 vectors of 16 rows × 4 bytes) per step, one contiguous
    // stream per row group (1-2% faster than 64 rows), the same bytes as
    // the AVX2 and portable kernels: the layout for weights streamed from
    // DRAM.
    kernel!("mad5_avx512", Avx512, TERNARY, Exact, Layout::TernaryMad5 { mr: 32 },
            lutgemm_avx512_ternary_mad5, None),
    kernel!("lut_g2_avx512", Avx512, TERNARY, Exact, Layout::TernaryLutG2 { mr: 64, kc: 4 },
            lutgemm_avx512_ternary_lut_g2, Some(lutgemm_avx512_ternary_lut_g2_tables)),
    kernel!("lut_g4_avx512", Avx512, TERNARY, Exact, Layout::TernaryLutG4 { mr: 64, kc: 4 },
            lutgemm_avx512_ternary_lut_g4, Some(lutgemm_avx512_ternary_lut_g4_tables)),
    // Tables built per call in its scratch (kernels/x86/avx512_veclut.c).
    kernel!("veclut_g4_avx512", Avx512, TERNARY, Exact, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_avx512_ternary_veclut_g4, None),
    // 2 bits: listed first, so selection takes it (a byte's fields are
    // four rows: 3 masks per load against a shift and 4 masks, see
    // "Layout A'" in avx512_int.c).
    kernel!("mad_int_fr_avx512", Avx512, INT2, Exact, Layout::MadFieldRows { mr: 64 },
            lutgemm_avx512_int_mad_fr, None),
    kernel!("mad_int_avx512", Avx512, INT_MAD, Exact, Layout::IntMad { mr: 16 },
            lutgemm_avx512_int_mad, None),
    kernel!("bitlut_g4_avx512", Avx512, INT_ALL, Exact, Layout::IntBitLutG4 { mr: 64 },
            lutgemm_avx512_int_bitlut_g4, Some(lutgemm_avx512_int_bitlut_g4_tables)),
    kernel!("bitlut_g4_fast_avx512", Avx512, INT_AND_TERNARY, Fast, Layout::IntBitLutG4 { mr: 64 },
            lutgemm_avx512_int_bitlut_g4_fast, Some(lutgemm_avx512_int_bitlut_g4_fast_tables)),
    // Float tables: the portable builder (entries summed directly, no
    // mirror) is ~2.5 µs per token at k = 4096, < 1% of a Float GEMV.
    kernel!("bitlut_g4_float_avx512", Avx512, INT_AND_TERNARY, Float, Layout::IntBitLutG4 { mr: 64 },
            lutgemm_avx512_int_bitlut_g4_float, None),
    // Tables built per call in its scratch (kernels/veclut_int.h).
    kernel!("veclut_int_avx512", Avx512, INT_ALL, Exact, Layout::IntVecLut { mr: 64 },
            lutgemm_avx512_int_veclut, None),
    // f32 table rows built per call from xpad (kernels/veclut_float.h).
    kernel!("veclut_g4_float_avx512", Avx512, TERNARY, Float, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_avx512_ternary_veclut_g4_float, None),
    // int8 rows re-quantized per span and token (kernels/veclut_float.h).
    kernel!("veclut_g4_fast_avx512", Avx512, TERNARY, Fast, Layout::TernaryVecLutG4 { mr: 64 },
            lutgemm_avx512_ternary_veclut_g4_fast, None),
    // The same kernels on integer codes, two nibble rows a byte.
    kernel!("veclut_int_float_avx512", Avx512, INT_ALL, Float, Layout::IntVecLut { mr: 64 },
            lutgemm_avx512_int_veclut_float, None),
    kernel!("veclut_int_fast_avx512", Avx512, INT12, Fast, Layout::IntVecLut { mr: 64 },
            lutgemm_avx512_int_veclut_fast, None),
];
