//! Kernel selection from measured crossovers.
//!
//! The numbers behind each choice come from the quick bench
//! (`cargo run --release --example bench`) on the machines we have; the
//! reason string says which measurement applies so `describe()` can show it.

use crate::isa::Isa;
use crate::kernels::{self, KernelDesc, KernelFamily};

/// Picks the kernel for a `m × k` ternary matrix on `isa`, with the reason.
pub(crate) fn select(isa: Isa, m: usize, k: usize) -> (&'static KernelDesc, &'static str) {
    let _ = (m, k);
    let (order, why): (&[KernelFamily], &str) = match isa {
        Isa::Avx512 => (
            &[
                KernelFamily::MultiplyAdd,
                KernelFamily::Lut4,
                KernelFamily::Lut2,
            ],
            "avx512: VNNI multiply-add measured fastest at every shape of DESIGN.md §1 (n = 1, 8, 256)",
        ),
        Isa::Avx2 => (
            &[KernelFamily::MultiplyAdd, KernelFamily::Lut2],
            "avx2: vpmaddubsw multiply-add measured fastest at every shape of DESIGN.md §1",
        ),
        Isa::Scalar => (
            &[
                KernelFamily::MultiplyAdd,
                KernelFamily::Lut2,
                KernelFamily::Lut4,
            ],
            "scalar: multiply-add is the fastest portable kernel",
        ),
    };
    for &family in order {
        if let Some(k) = kernels::find(family, isa) {
            return (k, why);
        }
    }
    (
        kernels::find(KernelFamily::MultiplyAdd, Isa::Scalar).expect("portable kernels exist"),
        "fallback: no kernel of the preferred families for this ISA",
    )
}
