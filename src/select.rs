//! Kernel selection from measured crossovers.
//!
//! The numbers behind each choice come from the quick bench
//! (`cargo run --release --example bench`, one thread, end to end) on the
//! development machine, an AMD EPYC (Zen 4, family 19h) VM; the reason
//! string says which measurement applies, so `describe()` can show it.
//! Weights are packed for one kernel, so the choice is made per (ISA, m, k)
//! at pack time, weighing decode (n = 1) first.
//!
//! Measured (2026-11-22, all 11 shapes of DESIGN.md §1, one run):
//! - avx512: at n = 1, `lut4` is within ±16% of `mad` (lut4/mad time ratio
//!   0.84–1.06 on the shapes up to 8640 × 3200; e.g. 4096 × 4096: 88.1 vs
//!   88.7 µs), which is the run-to-run noise of the shared machine: both
//!   are bound by one 512-bit shuffle or VNNI op per cycle on Zen 4. On
//!   4096 × 14336 `mad` is ~2× faster at n = 1, and at n = 8 and 256 `mad`
//!   is as fast or up to 30% faster on 9 of 11 shapes. `lut2` is 1.7–2×
//!   slower than either. So `mad` everywhere, until `lut4` wins somewhere
//!   by more than the noise.
//! - avx2: `mad` (`vpmaddubsw`) is 15–30% faster than `lut2` at n = 1 and 8
//!   on every shape (4096 × 4096, n = 1: 141 vs 172 µs).
//! - scalar: `lut4` is 2–2.8× faster than `mad` and `lut2` (the table does
//!   four weights per lookup; the portable multiply-add does one).

use crate::isa::Isa;
use crate::kernels::{self, KernelDesc, KernelFamily};

/// Picks the kernel for a `m × k` ternary matrix on `isa`, with the reason.
pub(crate) fn select(isa: Isa, m: usize, k: usize) -> (&'static KernelDesc, &'static str) {
    let _ = (m, k); // no shape-dependent crossover measured yet: see above
    let (order, why): (&[KernelFamily], &str) = match isa {
        Isa::Avx512 => (
            &[
                KernelFamily::MultiplyAdd,
                KernelFamily::Lut4,
                KernelFamily::Lut2,
            ],
            "avx512: VNNI multiply-add ties lut4 at n = 1 and is as fast or up to 30% \
             faster at n >= 8 and on the largest shapes (src/select.rs)",
        ),
        Isa::Avx2 => (
            &[KernelFamily::MultiplyAdd, KernelFamily::Lut2],
            "avx2: vpmaddubsw multiply-add is 15-30% faster than lut2 on every shape \
             (src/select.rs)",
        ),
        Isa::Scalar => (
            &[
                KernelFamily::Lut4,
                KernelFamily::Lut2,
                KernelFamily::MultiplyAdd,
            ],
            "scalar: lut4 does four weights per lookup, 2-2.8x faster than the portable \
             multiply-add (src/select.rs)",
        ),
    };
    for &family in order {
        if let Some(k) = kernels::find(family, isa) {
            return (k, why);
        }
    }
    unreachable!("every ISA has a multiply-add kernel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_available_isa_selects_one_of_its_own_kernels() {
        for isa in Isa::available() {
            let (k, why) = select(isa, 4096, 4096);
            assert_eq!(k.isa, isa);
            assert!(why.starts_with(isa.name()));
        }
    }
}
