//! Shapes and inputs shared by the criterion bench and the quick bench
//! (`examples/bench.rs` includes this file by path).
#![allow(dead_code)]

use lutgemm::{ScaleGranularity, TernaryMatrix};

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
