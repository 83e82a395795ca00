//! The scalar oracle: dequantize and multiply, in f64 or exact integers.
//!
//! Everything else in the crate is tested against these functions. They are
//! written for clarity, not speed, and share no code with the kernels apart
//! from the format types.

use crate::format::TernaryMatrix;

/// `Y = X · Wᵀ` with dequantized weights and unquantized activations, in
/// f64. `x` is n × k row-major; returns n × m row-major. Use it to measure
/// the total error of a contract, activation quantization included.
pub fn matmul_f64(w: &TernaryMatrix, x: &[f32], n: usize) -> Vec<f64> {
    let (m, k) = (w.m(), w.k());
    assert_eq!(x.len(), n * k, "x must be n × k");
    let wd = w.dequantize();
    let mut y = vec![0f64; n * m];
    for t in 0..n {
        for r in 0..m {
            let mut acc = 0f64;
            for c in 0..k {
                acc += x[t * k + c] as f64 * wd[r * k + c] as f64;
            }
            y[t * m + r] = acc;
        }
    }
    y
}

/// The exact contract's activation quantization, per token: `amax =
/// max|x|`, `q = round(x · (127 / amax))` in f32 (ties away from zero),
/// `d = amax / 127`; a token whose `127 / amax` overflows f32 (all zeros,
/// or amax < 3.7e-37) gives `q = 0`, `d = 0`. Returns `(q, d)`, q n × k.
/// Panics on non-finite input (the library returns an error instead).
pub fn quantize_activations(x: &[f32], n: usize, k: usize) -> (Vec<i8>, Vec<f32>) {
    assert_eq!(x.len(), n * k, "x must be n × k");
    let mut q = vec![0i8; n * k];
    let mut d = vec![0f32; n];
    for t in 0..n {
        let row = &x[t * k..(t + 1) * k];
        assert!(row.iter().all(|v| v.is_finite()), "non-finite activation");
        let amax = row.iter().fold(0f32, |a, v| a.max(v.abs()));
        let s = 127.0f32 / amax;
        if s.is_finite() {
            for c in 0..k {
                q[t * k + c] = (row[c] * s).round().clamp(-127.0, 127.0) as i8;
            }
            d[t] = amax / 127.0;
        }
    }
    (q, d)
}

/// Exact integer partial sums `Σ_{c ∈ block b} q[t,c] · code[r,c]`, laid out
/// n × m × blocks_per_row (row-major). Every kernel's integer sums must equal
/// these bit for bit.
pub fn integer_sums(w: &TernaryMatrix, q: &[i8], n: usize) -> Vec<i32> {
    let (m, k) = (w.m(), w.k());
    assert_eq!(q.len(), n * k, "q must be n × k");
    let bl = w.block_len();
    let nb = w.blocks_per_row();
    let codes = w.codes();
    let mut out = vec![0i32; n * m * nb];
    for t in 0..n {
        for r in 0..m {
            for b in 0..nb {
                let mut acc = 0i64;
                for c in b * bl..(b + 1) * bl {
                    acc += q[t * k + c] as i64 * codes[r * k + c] as i64;
                }
                out[(t * m + r) * nb + b] = i32::try_from(acc).expect("sum fits i32");
            }
        }
    }
    out
}

/// The exact contract's result in f64: `y[t,r] = d_t · Σ_b s[r,b] · isum[t,r,b]`.
/// The library's f32 result must be within a few ulps of
/// `d_t · Σ_b |s[r,b] · isum[t,r,b]|` of this.
pub fn matmul_exact(w: &TernaryMatrix, q: &[i8], d: &[f32], n: usize) -> Vec<f64> {
    let m = w.m();
    let nb = w.blocks_per_row();
    assert_eq!(d.len(), n, "one scale per token");
    let sums = integer_sums(w, q, n);
    let mut y = vec![0f64; n * m];
    for t in 0..n {
        for r in 0..m {
            let mut acc = 0f64;
            for b in 0..nb {
                acc += w.scale(r, b) as f64 * sums[(t * m + r) * nb + b] as f64;
            }
            y[t * m + r] = acc * d[t] as f64;
        }
    }
    y
}
