//! Compute-peak loops: for each ISA level, the int8 multiply-add
//! instruction(s) its multiply-add kernels use and the byte shuffle its
//! table kernels use, plus the f32 FMA of the dense baseline; each a loop
//! of 8–12 independent instructions (throughput-bound: more chains than
//! latency × issue width) over registers only.
//!
//! Written as inline assembly rather than `std::arch` intrinsics: the
//! instruction stream is then exactly what is counted (no compiler
//! rewrites, spills or hoisting), and the AVX-512 intrinsics
//! (`_mm512_dpbusd_epi32`, stable from Rust 1.89) and NEON `vdotq_s32`
//! (unstable) are beyond the crate's `rust-version`.
//!
//! Multiply-accumulates are counted honestly: AVX2 `vpmaddubsw` gives 32
//! u8 × s8 products summed in pairs to int16, which must be widened
//! (`vpmaddwd` by ones) and added into int32 before the next pair could
//! overflow, so one MAD step is the triple maddubs + madd + add for 32
//! MACs; NEON without dotprod likewise `smull` + `smlal2` + `sadalp` for
//! 16 MACs. `vpdpbusd` zmm is 64 MACs, `sdot` 16, `smmla` 32 (a 2 × 8 by
//! 8 × 2 block).

#[cfg(target_arch = "aarch64")]
mod arm;
#[cfg(target_arch = "x86_64")]
mod x86;

use lutgemm::Isa;

/// One peak loop.
pub struct PeakLoop {
    /// The instruction(s) measured.
    pub insn: &'static str,
    /// Ops (2 per MAC or FMA) or byte lookups per iteration.
    pub units_per_iter: f64,
    /// Runs that many iterations (at least 1).
    run: unsafe fn(u64),
}

impl PeakLoop {
    /// Only built for instructions this CPU has (see [`loops`]).
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    fn new(insn: &'static str, units_per_iter: f64, run: unsafe fn(u64)) -> PeakLoop {
        PeakLoop {
            insn,
            units_per_iter,
            run,
        }
    }

    pub fn run(&self, iters: u64) {
        // SAFETY: a PeakLoop exists only when the CPU supports its
        // instructions (loops and fma_loop check); the loop reads and
        // writes vector registers only.
        unsafe { (self.run)(iters.max(1)) }
    }
}

/// The multiply-add and byte-shuffle loops of `isa`, if this CPU has it
/// (`None` for `Scalar`).
pub fn loops(isa: Isa) -> Option<(PeakLoop, PeakLoop)> {
    if isa == Isa::Scalar || !isa.is_detected() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    return x86::loops(isa);
    #[cfg(target_arch = "aarch64")]
    return arm::loops(isa);
    #[allow(unreachable_code)]
    None
}

/// The f32 FMA loop of the dense baseline's ISA (AVX2 + FMA, NEON).
pub fn fma_loop() -> Option<PeakLoop> {
    #[cfg(target_arch = "x86_64")]
    return x86::fma_loop();
    #[cfg(target_arch = "aarch64")]
    return Some(arm::fma_loop());
    #[allow(unreachable_code)]
    None
}
