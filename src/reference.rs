//! The scalar oracle: dequantize and multiply, in f64 or exact integers,
//! for any format ([`Dequantize`]).
//!
//! Everything else in the crate is tested against these functions. They are
//! written for clarity, not speed, and share no code with the kernels apart
//! from the format types.

use crate::format::Dequantize;

/// `Y = X · Wᵀ` with dequantized weights and unquantized activations, in
/// f64. `x` is n × k row-major; returns n × m row-major. Use it to measure
/// the total error of a contract, activation quantization included.
pub fn matmul_f64<W: Dequantize + ?Sized>(w: &W, x: &[f32], n: usize) -> Vec<f64> {
    let (m, k) = (w.m(), w.k());
    assert_eq!(x.len(), n * k, "x must be n × k");
    let wd: Vec<f64> = (0..m * k).map(|i| w.weight(i / k, i % k)).collect();
    let mut y = vec![0f64; n * m];
    for t in 0..n {
        for r in 0..m {
            let mut acc = 0f64;
            for c in 0..k {
                acc += x[t * k + c] as f64 * wd[r * k + c];
            }
            y[t * m + r] = acc;
        }
    }
    y
}

/// `Σ_{t, c} |x[t,c] · w[r,c]|` per (token, row), n × m: the magnitude the
/// Float contract's error bound is relative to.
pub fn abs_products<W: Dequantize + ?Sized>(w: &W, x: &[f32], n: usize) -> Vec<f64> {
    let (m, k) = (w.m(), w.k());
    let mut y = vec![0f64; n * m];
    for t in 0..n {
        for r in 0..m {
            y[t * m + r] = (0..k)
                .map(|c| (x[t * k + c] as f64 * w.weight(r, c)).abs())
                .sum();
        }
    }
    y
}

/// The Exact contract's activation quantization, per token, as
/// [`crate::activation`] documents: `amax = max|x|`, `q = round(x ·
/// (127 / amax))` in f32 (ties away from zero), `d = amax / 127`; a token
/// whose `127 / amax` overflows f32 gives `q = 0`, `d = 0`. Returns
/// `(q, d)`, q n × k. Panics on non-finite input (the library returns an
/// error instead).
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

/// Exact integer sums `Σ_{c ∈ group g} q[t,c] · code[r,c]` (per bit plane
/// `i`, `Σ q · bit_i(code)`, when the weights carry plane scales), laid out
/// n × m × groups_per_row × planes (planes = 1 without plane scales).
/// Every Exact kernel's integer sums must equal these bit for bit.
pub fn integer_sums<W: Dequantize + ?Sized>(w: &W, q: &[i8], n: usize) -> Vec<i32> {
    let (m, k) = (w.m(), w.k());
    assert_eq!(q.len(), n * k, "q must be n × k");
    let bl = w.group_len();
    let nb = w.groups_per_row();
    let planes = if w.has_plane_scales() {
        w.format().bits() as usize
    } else {
        1
    };
    let mut out = vec![0i32; n * m * nb * planes];
    for t in 0..n {
        for r in 0..m {
            for g in 0..nb {
                for p in 0..planes {
                    let mut acc = 0i64;
                    for c in g * bl..(g + 1) * bl {
                        let code = w.code(r, c) as i64;
                        let v = if planes == 1 { code } else { (code >> p) & 1 };
                        acc += q[t * k + c] as i64 * v;
                    }
                    out[((t * m + r) * nb + g) * planes + p] =
                        i32::try_from(acc).expect("sum fits i32");
                }
            }
        }
    }
    out
}

/// The Exact contract's result in f64:
/// `y[t,r] = d_t · Σ_g (Σ_p s[r,g,p] · isum[t,r,g,p] + o[r,g] · Σ_{c ∈ g} q[t,c])`.
/// The library's f32 result must be this value rounded to f32 (within
/// an ulp).
pub fn matmul_exact<W: Dequantize + ?Sized>(w: &W, q: &[i8], d: &[f32], n: usize) -> Vec<f64> {
    let (m, k) = (w.m(), w.k());
    let bl = w.group_len();
    let nb = w.groups_per_row();
    assert_eq!(d.len(), n, "one scale per token");
    let planes = if w.has_plane_scales() {
        w.format().bits() as usize
    } else {
        1
    };
    let sums = integer_sums(w, q, n);
    let mut y = vec![0f64; n * m];
    for t in 0..n {
        for r in 0..m {
            let mut acc = 0f64;
            for g in 0..nb {
                for p in 0..planes {
                    let s = if w.has_plane_scales() {
                        w.plane_scale(r, g, p).unwrap_or(0.0)
                    } else {
                        w.scale(r, g)
                    };
                    acc += s as f64 * sums[((t * m + r) * nb + g) * planes + p] as f64;
                }
                let xs: i64 = (g * bl..(g + 1) * bl).map(|c| q[t * k + c] as i64).sum();
                acc += w.offset(r, g) as f64 * xs as f64;
            }
            y[t * m + r] = acc * d[t] as f64;
        }
    }
    y
}
