//! x86-64 peak loops (Intel syntax). Registers 0–11 are the independent
//! destinations, 13–15 the sources; every loop ends with `vzeroupper`.

use super::PeakLoop;
use lutgemm::Isa;
use std::arch::asm;

/// `iters` times the body, after the setup; clobbers xmm0–15 (and so the
/// whole of ymm/zmm0–15), nothing else but the counter and flags.
macro_rules! peak_loop {
    ($iters:expr, [$($setup:literal),* $(,)?], [$($body:literal),* $(,)?]) => {
        asm!(
            $($setup,)*
            "2:",
            $($body,)*
            "dec {n}",
            "jnz 2b",
            "vzeroupper",
            n = inout(reg) $iters => _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack, nomem),
        )
    };
}

/// 12 × `vpdpbusd` zmm: 12 × 64 MACs.
unsafe fn vnni_zmm(iters: u64) {
    // SAFETY (caller): AVX-512 F + VNNI.
    unsafe {
        peak_loop!(
            iters,
            [
                "vpternlogd zmm14, zmm14, zmm14, 0xff",
                "vpabsb zmm15, zmm14",
            ],
            [
                "vpdpbusd zmm0, zmm14, zmm15",
                "vpdpbusd zmm1, zmm14, zmm15",
                "vpdpbusd zmm2, zmm14, zmm15",
                "vpdpbusd zmm3, zmm14, zmm15",
                "vpdpbusd zmm4, zmm14, zmm15",
                "vpdpbusd zmm5, zmm14, zmm15",
                "vpdpbusd zmm6, zmm14, zmm15",
                "vpdpbusd zmm7, zmm14, zmm15",
                "vpdpbusd zmm8, zmm14, zmm15",
                "vpdpbusd zmm9, zmm14, zmm15",
                "vpdpbusd zmm10, zmm14, zmm15",
                "vpdpbusd zmm11, zmm14, zmm15",
            ]
        )
    }
}

/// 12 × `vpermb` zmm: 12 × 64 byte lookups in 64-byte tables.
unsafe fn vpermb_zmm(iters: u64) {
    // SAFETY (caller): AVX-512 F + VBMI.
    unsafe {
        peak_loop!(
            iters,
            [
                "vpternlogd zmm14, zmm14, zmm14, 0xff",
                "vpabsb zmm15, zmm14",
            ],
            [
                "vpermb zmm0, zmm14, zmm15",
                "vpermb zmm1, zmm14, zmm15",
                "vpermb zmm2, zmm14, zmm15",
                "vpermb zmm3, zmm14, zmm15",
                "vpermb zmm4, zmm14, zmm15",
                "vpermb zmm5, zmm14, zmm15",
                "vpermb zmm6, zmm14, zmm15",
                "vpermb zmm7, zmm14, zmm15",
                "vpermb zmm8, zmm14, zmm15",
                "vpermb zmm9, zmm14, zmm15",
                "vpermb zmm10, zmm14, zmm15",
                "vpermb zmm11, zmm14, zmm15",
            ]
        )
    }
}

/// 8 × (`vpmaddubsw` + `vpmaddwd` by ones + `vpaddd`) ymm: 8 × 32 MACs.
unsafe fn maddubs_ymm(iters: u64) {
    // SAFETY (caller): AVX2.
    unsafe {
        peak_loop!(
            iters,
            [
                "vpcmpeqd ymm14, ymm14, ymm14",
                "vpabsb ymm15, ymm14",
                "vpabsw ymm13, ymm14",
            ],
            [
                "vpmaddubsw ymm4, ymm14, ymm15",
                "vpmaddubsw ymm5, ymm14, ymm15",
                "vpmaddubsw ymm6, ymm14, ymm15",
                "vpmaddubsw ymm7, ymm14, ymm15",
                "vpmaddubsw ymm8, ymm14, ymm15",
                "vpmaddubsw ymm9, ymm14, ymm15",
                "vpmaddubsw ymm10, ymm14, ymm15",
                "vpmaddubsw ymm11, ymm14, ymm15",
                "vpmaddwd ymm4, ymm4, ymm13",
                "vpmaddwd ymm5, ymm5, ymm13",
                "vpmaddwd ymm6, ymm6, ymm13",
                "vpmaddwd ymm7, ymm7, ymm13",
                "vpmaddwd ymm8, ymm8, ymm13",
                "vpmaddwd ymm9, ymm9, ymm13",
                "vpmaddwd ymm10, ymm10, ymm13",
                "vpmaddwd ymm11, ymm11, ymm13",
                "vpaddd ymm0, ymm0, ymm4",
                "vpaddd ymm1, ymm1, ymm5",
                "vpaddd ymm2, ymm2, ymm6",
                "vpaddd ymm3, ymm3, ymm7",
                "vpaddd ymm0, ymm0, ymm8",
                "vpaddd ymm1, ymm1, ymm9",
                "vpaddd ymm2, ymm2, ymm10",
                "vpaddd ymm3, ymm3, ymm11",
            ]
        )
    }
}

/// 12 × `vpshufb` ymm: 12 × 32 byte lookups in 16-byte tables.
unsafe fn pshufb_ymm(iters: u64) {
    // SAFETY (caller): AVX2.
    unsafe {
        peak_loop!(
            iters,
            ["vpcmpeqd ymm14, ymm14, ymm14", "vpabsb ymm15, ymm14"],
            [
                "vpshufb ymm0, ymm14, ymm15",
                "vpshufb ymm1, ymm14, ymm15",
                "vpshufb ymm2, ymm14, ymm15",
                "vpshufb ymm3, ymm14, ymm15",
                "vpshufb ymm4, ymm14, ymm15",
                "vpshufb ymm5, ymm14, ymm15",
                "vpshufb ymm6, ymm14, ymm15",
                "vpshufb ymm7, ymm14, ymm15",
                "vpshufb ymm8, ymm14, ymm15",
                "vpshufb ymm9, ymm14, ymm15",
                "vpshufb ymm10, ymm14, ymm15",
                "vpshufb ymm11, ymm14, ymm15",
            ]
        )
    }
}

/// 12 × `vfmadd231ps` ymm on zeros (no denormals): 12 × 16 flops.
unsafe fn fma_ymm(iters: u64) {
    // SAFETY (caller): AVX2 + FMA.
    unsafe {
        peak_loop!(
            iters,
            [
                "vxorps ymm14, ymm14, ymm14",
                "vxorps ymm15, ymm15, ymm15",
                "vxorps ymm0, ymm0, ymm0",
                "vxorps ymm1, ymm1, ymm1",
                "vxorps ymm2, ymm2, ymm2",
                "vxorps ymm3, ymm3, ymm3",
                "vxorps ymm4, ymm4, ymm4",
                "vxorps ymm5, ymm5, ymm5",
                "vxorps ymm6, ymm6, ymm6",
                "vxorps ymm7, ymm7, ymm7",
                "vxorps ymm8, ymm8, ymm8",
                "vxorps ymm9, ymm9, ymm9",
                "vxorps ymm10, ymm10, ymm10",
                "vxorps ymm11, ymm11, ymm11",
            ],
            [
                "vfmadd231ps ymm0, ymm14, ymm15",
                "vfmadd231ps ymm1, ymm14, ymm15",
                "vfmadd231ps ymm2, ymm14, ymm15",
                "vfmadd231ps ymm3, ymm14, ymm15",
                "vfmadd231ps ymm4, ymm14, ymm15",
                "vfmadd231ps ymm5, ymm14, ymm15",
                "vfmadd231ps ymm6, ymm14, ymm15",
                "vfmadd231ps ymm7, ymm14, ymm15",
                "vfmadd231ps ymm8, ymm14, ymm15",
                "vfmadd231ps ymm9, ymm14, ymm15",
                "vfmadd231ps ymm10, ymm14, ymm15",
                "vfmadd231ps ymm11, ymm14, ymm15",
            ]
        )
    }
}

/// The loops of a detected x86 level.
pub fn loops(isa: Isa) -> Option<(PeakLoop, PeakLoop)> {
    match isa {
        Isa::Avx512 => Some((
            PeakLoop::new("vpdpbusd zmm", 2.0 * 12.0 * 64.0, vnni_zmm),
            PeakLoop::new("vpermb zmm", 12.0 * 64.0, vpermb_zmm),
        )),
        Isa::Avx2 => Some((
            PeakLoop::new(
                "vpmaddubsw+vpmaddwd+vpaddd ymm",
                2.0 * 8.0 * 32.0,
                maddubs_ymm,
            ),
            PeakLoop::new("vpshufb ymm", 12.0 * 32.0, pshufb_ymm),
        )),
        _ => None,
    }
}

/// The dense baseline's FMA loop, when it runs its AVX2 + FMA path.
pub fn fma_loop() -> Option<PeakLoop> {
    (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
        .then(|| PeakLoop::new("vfmadd231ps ymm", 12.0 * 16.0, fma_ymm))
}
