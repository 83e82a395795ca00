//! Shapes, weight cases and inputs shared by the criterion benches and the
//! quick bench (`examples/bench/main.rs` includes this file by path).
#![allow(dead_code)]

use lutgemm::{
    Dequantize, Format, IntMatrix, IntQuantizer, Isa, KernelDesc, KernelFamily, PackOptions,
    PackedWeights, ScaleGranularity, TernaryMatrix, kernels,
};

/// Real (m, k) shapes of DESIGN.md §1, with the model they come from.
pub const SHAPES: &[(usize, usize, &str)] = &[
    (2560, 2560, "bitnet-2b4t attn"),
    (640, 2560, "bitnet-2b4t kv"),
    (6912, 2560, "bitnet-2b4t ffn up"),
    (2560, 6912, "bitnet-2b4t ffn down"),
    (3200, 3200, "bitnet-3b attn"),
    (8640, 3200, "bitnet-3b ffn up"),
    (3200, 8640, "bitnet-3b ffn down"),
    (4096, 4096, "llama3-8b attn"),
    (1024, 4096, "llama3-8b kv"),
    (14336, 4096, "llama3-8b ffn up"),
    (4096, 14336, "llama3-8b ffn down"),
];

/// Token counts benchmarked by default.
pub const NS: &[usize] = &[1, 8, 256];

/// Deterministic pseudo-random values in [-1, 1).
pub fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// A random ternary matrix with one scale per tensor (BitNet b1.58).
pub fn ternary(m: usize, k: usize) -> TernaryMatrix {
    TernaryMatrix::quantize_f32(&values(m * k, 42), m, k, ScaleGranularity::PerTensor)
        .expect("valid shape")
}

/// A b-bit integer matrix quantized from random floats in [-1, 1) with a
/// scale and an offset per group ([`IntQuantizer::Asymmetric`], llama.cpp
/// Q4_1 style, so the offset path of the scaling is measured too; with
/// `symmetric`, [`IntQuantizer::Symmetric`], Q4_0 style, whose offsets the
/// kernels fold into the sums as a zero point), the scales and offsets f16
/// values as GGUF and GPTQ store them ([`IntQuantizer::with_f16_scales`]:
/// the multiply-add kernels then read f16 scales) unless `f32_scales`.
pub fn intb(
    m: usize,
    k: usize,
    bits: u32,
    granularity: ScaleGranularity,
    f32_scales: bool,
    symmetric: bool,
) -> IntMatrix {
    let q = if symmetric {
        IntQuantizer::Symmetric
    } else {
        IntQuantizer::Asymmetric
    };
    let q = if f32_scales {
        q.into()
    } else {
        q.with_f16_scales()
    };
    IntMatrix::quantize_f32(&values(m * k, 42), m, k, bits, granularity, q)
        .expect("valid shape and group")
}

/// One weight case: a format and its scale group length along k (0: one
/// group per row; for ternary, one scale per tensor as BitNet b1.58), and
/// for integers whether the scales are f32 rather than f16 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub format: Format,
    pub group: usize,
    pub f32_scales: bool,
    /// Symmetric integer weights (zero point `2^(b−1)`, no stored offsets).
    pub symmetric: bool,
}

impl Case {
    pub const fn new(format: Format, group: usize) -> Case {
        Case {
            format,
            group,
            f32_scales: false,
            symmetric: false,
        }
    }

    /// The same case with symmetric weights (integers).
    pub const fn with_symmetric(self) -> Case {
        Case {
            symmetric: true,
            ..self
        }
    }

    /// The same case with f32 scales and offsets (integers).
    pub const fn with_f32_scales(self) -> Case {
        Case {
            f32_scales: true,
            ..self
        }
    }

    /// `ternary`, `int4_g32`, `int2_row`, `int4_g32_f32scales`,
    /// `int4_g32_sym` …: criterion group names.
    pub fn name(&self) -> String {
        let mut name = match (self.format, self.group) {
            (Format::Ternary, 0) => "ternary".to_string(),
            (f, 0) => format!("{f}_row"),
            (f, g) => format!("{f}_g{g}"),
        };
        if self.f32_scales {
            name += "_f32scales";
        }
        if self.symmetric {
            name += "_sym";
        }
        name
    }

    /// The scale granularity: per tensor (ternary, group 0), per row
    /// (integers, group 0) or per block of `group`.
    pub fn granularity(&self) -> ScaleGranularity {
        match (self.format, self.group) {
            (Format::Ternary, 0) => ScaleGranularity::PerTensor,
            (_, 0) => ScaleGranularity::PerRow,
            (_, g) => ScaleGranularity::PerBlock(g),
        }
    }

    /// Whether rows of length `k` split into whole groups.
    pub fn fits(&self, k: usize) -> bool {
        self.group == 0 || k % self.group == 0
    }

    /// Random weights of this case (see [`ternary`] and [`intb`]).
    pub fn weights(&self, m: usize, k: usize) -> Weights {
        match self.format {
            Format::Ternary => Weights::Ternary(
                TernaryMatrix::quantize_f32(&values(m * k, 42), m, k, self.granularity())
                    .expect("valid shape and group"),
            ),
            f => Weights::Int(intb(
                m,
                k,
                f.bits(),
                self.granularity(),
                self.f32_scales,
                self.symmetric,
            )),
        }
    }
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The ternary case: one scale per tensor.
pub const TERNARY_CASES: &[Case] = &[Case::new(Format::Ternary, 0)];

/// The integer cases benchmarked: 2-bit in groups of 64, 4-bit in groups of
/// 32 and 128, with f16 scales and offsets; and 4-bit in groups of 32 with
/// f32 ones (twice the scale bytes the fused multiply-add kernels stream).
pub const INT_CASES: &[Case] = &[
    Case::new(Format::Int2, 64),
    Case::new(Format::Int4, 32),
    Case::new(Format::Int4, 128),
    Case::new(Format::Int4, 32).with_f32_scales(),
];

/// Default groups of a format when none are asked for.
pub fn default_groups(format: Format) -> Vec<usize> {
    let mut g: Vec<usize> = TERNARY_CASES
        .iter()
        .chain(INT_CASES)
        .filter(|c| c.format == format && !c.f32_scales)
        .map(|c| c.group)
        .collect();
    if g.is_empty() {
        g.push(64);
    }
    g
}

/// Weights of either kind, for the formats' inherent methods.
pub enum Weights {
    Ternary(TernaryMatrix),
    Int(IntMatrix),
}

impl Weights {
    /// As the trait the packers and the oracle read.
    pub fn as_dyn(&self) -> &dyn Dequantize {
        match self {
            Weights::Ternary(w) => w,
            Weights::Int(w) => w,
        }
    }

    /// The dequantized f32 weights, m × k (the dense baseline's input).
    pub fn dequantize(&self) -> Vec<f32> {
        match self {
            Weights::Ternary(w) => w.dequantize(),
            Weights::Int(w) => w.dequantize(),
        }
    }
}

/// Every kernel that can run here for `format` (every contract), best ISA
/// first, the multiply-add kernel first within an ISA.
pub fn kernels_for(format: Format) -> Vec<&'static KernelDesc> {
    let mut ks: Vec<&'static KernelDesc> = kernels::available()
        .filter(|k| k.supports(format))
        .collect();
    ks.sort_by_key(|k| {
        (
            std::cmp::Reverse(k.isa),
            lutgemm::Contract::ALL.iter().position(|&c| c == k.contract),
            k.family() != KernelFamily::MultiplyAdd,
        )
    });
    ks
}

/// Packs `w` for exactly `kd` (`PackOptions::kernel`, and its contract);
/// an error if packing fails or selects another kernel.
pub fn pack_for(w: &dyn Dequantize, kd: &'static KernelDesc) -> Result<PackedWeights, String> {
    let p = PackedWeights::pack(
        w,
        &PackOptions {
            kernel: Some(kd),
            contract: kd.contract,
            ..PackOptions::default()
        },
    )
    .map_err(|e| format!("packing for {} failed: {e}", kd.name))?;
    if p.kernel().name != kd.name {
        return Err(format!(
            "packing for {} (family {}, isa {}, {} contract) gave kernel {}",
            kd.name,
            kd.family(),
            kd.isa,
            kd.contract,
            p.kernel().name
        ));
    }
    Ok(p)
}

/// Scalar kernels are skipped at more than this many tokens unless asked
/// for (a single call at n = 256 on the big shapes takes seconds).
pub const SCALAR_MAX_N: usize = 8;

/// Whether a kernel of `isa` runs at `n` tokens by default.
pub fn runs_by_default(isa: Isa, n: usize) -> bool {
    isa != Isa::Scalar || n <= SCALAR_MAX_N
}

/// The dense f32 baseline `y = x · wᵀ`: an AVX2/FMA dot product per row
/// and token for small n (weight streaming, like the kernels under test),
/// matrixmultiply's blocked SGEMM for larger n.
pub fn dense_f32(w: &[f32], x: &[f32], m: usize, k: usize, n: usize, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if n <= 8 && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        unsafe { dense_rows_avx2(w, x, m, k, n, y) };
        return;
    }
    // SAFETY: x is n × k, w is m × k (read as k × m through strides), y is
    // n × m; all row-major and in bounds.
    unsafe {
        matrixmultiply::sgemm(
            n,
            k,
            m,
            1.0,
            x.as_ptr(),
            k as isize,
            1,
            w.as_ptr(),
            1,
            k as isize,
            0.0,
            y.as_mut_ptr(),
            m as isize,
            1,
        )
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dense_rows_avx2(w: &[f32], x: &[f32], m: usize, k: usize, n: usize, y: &mut [f32]) {
    use std::arch::x86_64::*;
    for r in 0..m {
        let wr = &w[r * k..(r + 1) * k];
        for t in 0..n {
            let xt = &x[t * k..(t + 1) * k];
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut c = 0;
            while c + 32 <= k {
                for (u, a) in acc.iter_mut().enumerate() {
                    // SAFETY: c + 8u + 8 <= k, within both rows.
                    unsafe {
                        let wv = _mm256_loadu_ps(wr.as_ptr().add(c + 8 * u));
                        let xv = _mm256_loadu_ps(xt.as_ptr().add(c + 8 * u));
                        *a = _mm256_fmadd_ps(wv, xv, *a);
                    }
                }
                c += 32;
            }
            let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            let mut lanes = [0f32; 8];
            // SAFETY: lanes holds 8 floats.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
            let tail: f32 = wr[c..].iter().zip(&xt[c..]).map(|(a, b)| a * b).sum();
            y[t * m + r] = lanes.iter().sum::<f32>() + tail;
        }
    }
}
