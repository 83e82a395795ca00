//! aarch64 peak loops. Destinations v0–v7 and v16–v27, sources v30/v31;
//! v8–v15 (callee-saved) are never touched.

use super::PeakLoop;
use lutgemm::Isa;
use std::arch::asm;

/// `iters` times the body, after the setup; clobbers v0–v7 and v16–v31,
/// nothing else but the counter and flags.
macro_rules! peak_loop {
    ($iters:expr, [$($setup:literal),* $(,)?], [$($body:literal),* $(,)?]) => {
        asm!(
            $($setup,)*
            "2:",
            $($body,)*
            "subs {n}, {n}, #1",
            "b.ne 2b",
            n = inout(reg) $iters => _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack, nomem),
        )
    };
}

/// 8 × (`smull` + `smlal2` + `sadalp`): 8 × 16 MACs.
unsafe fn smlal(iters: u64) {
    // SAFETY (caller): NEON (the aarch64 baseline).
    unsafe {
        peak_loop!(
            iters,
            ["movi v30.16b, #3", "movi v31.16b, #5"],
            [
                "smull v20.8h, v30.8b, v31.8b",
                "smull v21.8h, v30.8b, v31.8b",
                "smull v22.8h, v30.8b, v31.8b",
                "smull v23.8h, v30.8b, v31.8b",
                "smull v24.8h, v30.8b, v31.8b",
                "smull v25.8h, v30.8b, v31.8b",
                "smull v26.8h, v30.8b, v31.8b",
                "smull v27.8h, v30.8b, v31.8b",
                "smlal2 v20.8h, v30.16b, v31.16b",
                "smlal2 v21.8h, v30.16b, v31.16b",
                "smlal2 v22.8h, v30.16b, v31.16b",
                "smlal2 v23.8h, v30.16b, v31.16b",
                "smlal2 v24.8h, v30.16b, v31.16b",
                "smlal2 v25.8h, v30.16b, v31.16b",
                "smlal2 v26.8h, v30.16b, v31.16b",
                "smlal2 v27.8h, v30.16b, v31.16b",
                "sadalp v0.4s, v20.8h",
                "sadalp v1.4s, v21.8h",
                "sadalp v2.4s, v22.8h",
                "sadalp v3.4s, v23.8h",
                "sadalp v4.4s, v24.8h",
                "sadalp v5.4s, v25.8h",
                "sadalp v6.4s, v26.8h",
                "sadalp v7.4s, v27.8h",
            ]
        )
    }
}

/// 12 × `sdot`: 12 × 16 MACs.
#[target_feature(enable = "dotprod")]
unsafe fn sdot(iters: u64) {
    // SAFETY (caller): the dot-product extension.
    unsafe {
        peak_loop!(
            iters,
            ["movi v30.16b, #3", "movi v31.16b, #5"],
            [
                "sdot v0.4s, v30.16b, v31.16b",
                "sdot v1.4s, v30.16b, v31.16b",
                "sdot v2.4s, v30.16b, v31.16b",
                "sdot v3.4s, v30.16b, v31.16b",
                "sdot v4.4s, v30.16b, v31.16b",
                "sdot v5.4s, v30.16b, v31.16b",
                "sdot v6.4s, v30.16b, v31.16b",
                "sdot v7.4s, v30.16b, v31.16b",
                "sdot v16.4s, v30.16b, v31.16b",
                "sdot v17.4s, v30.16b, v31.16b",
                "sdot v18.4s, v30.16b, v31.16b",
                "sdot v19.4s, v30.16b, v31.16b",
            ]
        )
    }
}

/// 12 × `smmla`: 12 × 32 MACs (2 × 8 by 8 × 2).
#[target_feature(enable = "i8mm")]
unsafe fn smmla(iters: u64) {
    // SAFETY (caller): the int8 matrix-multiply extension.
    unsafe {
        peak_loop!(
            iters,
            ["movi v30.16b, #3", "movi v31.16b, #5"],
            [
                "smmla v0.4s, v30.16b, v31.16b",
                "smmla v1.4s, v30.16b, v31.16b",
                "smmla v2.4s, v30.16b, v31.16b",
                "smmla v3.4s, v30.16b, v31.16b",
                "smmla v4.4s, v30.16b, v31.16b",
                "smmla v5.4s, v30.16b, v31.16b",
                "smmla v6.4s, v30.16b, v31.16b",
                "smmla v7.4s, v30.16b, v31.16b",
                "smmla v16.4s, v30.16b, v31.16b",
                "smmla v17.4s, v30.16b, v31.16b",
                "smmla v18.4s, v30.16b, v31.16b",
                "smmla v19.4s, v30.16b, v31.16b",
            ]
        )
    }
}

/// 12 × `tbl` with a one-register (16-byte) table: 12 × 16 byte lookups.
unsafe fn tbl(iters: u64) {
    // SAFETY (caller): NEON.
    unsafe {
        peak_loop!(
            iters,
            ["movi v30.16b, #3", "movi v31.16b, #5"],
            [
                "tbl v0.16b, {{v30.16b}}, v31.16b",
                "tbl v1.16b, {{v30.16b}}, v31.16b",
                "tbl v2.16b, {{v30.16b}}, v31.16b",
                "tbl v3.16b, {{v30.16b}}, v31.16b",
                "tbl v4.16b, {{v30.16b}}, v31.16b",
                "tbl v5.16b, {{v30.16b}}, v31.16b",
                "tbl v6.16b, {{v30.16b}}, v31.16b",
                "tbl v7.16b, {{v30.16b}}, v31.16b",
                "tbl v16.16b, {{v30.16b}}, v31.16b",
                "tbl v17.16b, {{v30.16b}}, v31.16b",
                "tbl v18.16b, {{v30.16b}}, v31.16b",
                "tbl v19.16b, {{v30.16b}}, v31.16b",
            ]
        )
    }
}

/// 12 × `fmla` .4s on zeros: 12 × 8 flops.
unsafe fn fmla(iters: u64) {
    // SAFETY (caller): NEON.
    unsafe {
        peak_loop!(
            iters,
            [
                "movi v30.16b, #0",
                "movi v31.16b, #0",
                "movi v0.16b, #0",
                "movi v1.16b, #0",
                "movi v2.16b, #0",
                "movi v3.16b, #0",
                "movi v4.16b, #0",
                "movi v5.16b, #0",
                "movi v6.16b, #0",
                "movi v7.16b, #0",
                "movi v16.16b, #0",
                "movi v17.16b, #0",
                "movi v18.16b, #0",
                "movi v19.16b, #0",
            ],
            [
                "fmla v0.4s, v30.4s, v31.4s",
                "fmla v1.4s, v30.4s, v31.4s",
                "fmla v2.4s, v30.4s, v31.4s",
                "fmla v3.4s, v30.4s, v31.4s",
                "fmla v4.4s, v30.4s, v31.4s",
                "fmla v5.4s, v30.4s, v31.4s",
                "fmla v6.4s, v30.4s, v31.4s",
                "fmla v7.4s, v30.4s, v31.4s",
                "fmla v16.4s, v30.4s, v31.4s",
                "fmla v17.4s, v30.4s, v31.4s",
                "fmla v18.4s, v30.4s, v31.4s",
                "fmla v19.4s, v30.4s, v31.4s",
            ]
        )
    }
}

/// The loops of a detected aarch64 level (every level's table kernels use
/// `tbl`).
pub fn loops(isa: Isa) -> Option<(PeakLoop, PeakLoop)> {
    let shuffle = PeakLoop::new("tbl .16b", 12.0 * 16.0, tbl);
    match isa {
        Isa::Neon => Some((
            PeakLoop::new("smull+smlal2+sadalp", 2.0 * 8.0 * 16.0, smlal),
            shuffle,
        )),
        Isa::Dotprod => Some((PeakLoop::new("sdot", 2.0 * 12.0 * 16.0, sdot), shuffle)),
        Isa::I8mm => Some((PeakLoop::new("smmla", 2.0 * 12.0 * 32.0, smmla), shuffle)),
        _ => None,
    }
}

/// The dense baseline's FMA loop (matrixmultiply's NEON kernels).
pub fn fma_loop() -> PeakLoop {
    PeakLoop::new("fmla .4s", 12.0 * 8.0, fmla)
}
