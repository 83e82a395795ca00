//! aarch64 dot-product kernels (`kernels/arm/dotprod.c`, and
//! `kernels/arm/dotprod_mad5.c` for five ternary weights per byte; Armv8.2
//! `sdot`):
//! FFI declarations and descriptors. Instruction counts and bounds are in
//! the C file.

use super::{INT_MAD, INT2, KernelDesc, TERNARY};
use crate::layout::Layout;

c_functions! {
    kernels: lutgemm_dotprod_ternary_mad, lutgemm_dotprod_ternary_mad_fr, lutgemm_dotprod_int_mad,
        lutgemm_dotprod_int_mad_fr,
        lutgemm_dotprod_ternary_mad5;
    tables:
}

// One descriptor a line: a table.
#[rustfmt::skip]
pub(crate) const KERNELS: &[KernelDesc] = &[
    kernel!("mad_dotprod", Dotprod, TERNARY, Exact, Layout::TernaryMad { mr: 8, kc: 64 },
            lutgemm_dotprod_ternary_mad, None),
    // The twin of mad_fr_avx512, listed after mad_dotprod so that selection
    // keeps that one (not measured on Arm hardware).
    kernel!("mad_fr_dotprod", Dotprod, TERNARY, Exact, Layout::MadFieldRows { mr: 64 },
            lutgemm_dotprod_ternary_mad_fr, None),
    kernel!("mad5_dotprod", Dotprod, TERNARY, Exact, Layout::TernaryMad5 { mr: 16 },
            lutgemm_dotprod_ternary_mad5, None),
    kernel!("mad_int_dotprod", Dotprod, INT_MAD, Exact, Layout::IntMad { mr: 16 },
            lutgemm_dotprod_int_mad, None),
    // The twin of mad_int_fr_avx512, listed after mad_int_dotprod so that
    // selection keeps that one (same instruction count per weight here).
    kernel!("mad_int_fr_dotprod", Dotprod, INT2, Exact, Layout::MadFieldRows { mr: 64 },
            lutgemm_dotprod_int_mad_fr, None),
];
