//! aarch64 dot-product kernels (`kernels/arm/dotprod.c`, Armv8.2 `sdot`):
//! FFI declarations and descriptors. Instruction counts and bounds are in
//! the C file.

use super::{INT_MAD, KernelDesc, TERNARY};
use crate::layout::Layout;

c_functions! {
    kernels: lutgemm_dotprod_ternary_mad, lutgemm_dotprod_int_mad;
    tables:
}

// One descriptor a line: a table.
#[rustfmt::skip]
pub(crate) const KERNELS: &[KernelDesc] = &[
    kernel!("mad_dotprod", Dotprod, TERNARY, Exact, Layout::TernaryMad { mr: 8, kc: 64 },
            lutgemm_dotprod_ternary_mad, None),
    kernel!("mad_int_dotprod", Dotprod, INT_MAD, Exact, Layout::IntMad { mr: 16 },
            lutgemm_dotprod_int_mad, None),
];
