//! AVX2 kernels (`kernels/x86/avx2.c`): FFI declarations and descriptors.

use super::KernelDesc;

pub(crate) const KERNELS: &[KernelDesc] = &[];
