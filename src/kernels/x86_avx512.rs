//! AVX512 kernels (`kernels/x86/avx512.c`): FFI declarations and descriptors.

use super::KernelDesc;

pub(crate) const KERNELS: &[KernelDesc] = &[];
