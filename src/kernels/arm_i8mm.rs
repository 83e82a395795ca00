//! aarch64 int8 matrix-multiply kernels (`kernels/arm/i8mm.c`, Armv8.6
//! `smmla`: two rows × two tokens per instruction, for n ≥ 2; its n = 1
//! path is the dotprod one): FFI declarations and descriptors.

use super::{INT_MAD, KernelDesc};
use crate::layout::Layout;

c_functions! {
    kernels: lutgemm_i8mm_int_mad;
    tables:
}

// One descriptor a line: a table.
#[rustfmt::skip]
pub(crate) const KERNELS: &[KernelDesc] = &[
    kernel!("mad_int_i8mm", I8mm, INT_MAD, Exact, Layout::IntMad { mr: 16 },
            lutgemm_i8mm_int_mad, None),
];
