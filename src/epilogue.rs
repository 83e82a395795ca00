//! The final float scaling, applied once per (token, row) after the kernel:
//!
//! `y = f32( d · Σ_g ( Σ_p s[r, g, p] · P[g, p] + o[r, g] · X[g] ) )`
//!
//! where `P` are the kernel's sums for the row (one per group, or one per
//! group and bit plane with per-plane scales), `X[g]` the group's
//! activation sum (`Σ q` for Exact, `Σ x` for Fast and Float), and `d` the
//! token's dequantization factor (1 for Fast and Float).
//!
//! Policy: everything is evaluated in f64 in this fixed order and rounded
//! to f32 once, so
//! - no representable result overflows or turns NaN on the way (with any
//!   finite f32 scales, offsets and `d`, every product and sum here stays
//!   far inside f64's range: |P| < 2^31, |s|, |o|, |d| < 2^128, nb < 2^17);
//!   a result beyond f32's range becomes ±inf, as any f32 rounding would;
//! - results are bit-identical for every kernel of a contract whose sums
//!   agree (all Exact kernels) and for every thread count.
//!
//! Scales and offsets may be any finite value: 0 (or −0.0) makes a group
//! contribute nothing, a negative scale flips its sign. `d` may be any
//! finite value (0 gives 0, a negative `d` flips the sign: `x ≈ d · q`).

/// A row tile's kernel sums for one token: rows × nb × planes.
pub(crate) enum Sums<'a> {
    Int(&'a [i32]),
    Float(&'a [f32]),
}

/// Scales rows of one token: `scales` and `offsets` are rows × nb (× planes
/// for the scales), `gsum` the token's nb group sums, `y` the rows' outputs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scale_rows(
    sums: Sums,
    scales: &[f32],
    offsets: Option<&[f32]>,
    gsum: &[f64],
    nb: usize,
    planes: usize,
    d: f32,
    y: &mut [f32],
) {
    let per_row = nb * planes;
    match sums {
        Sums::Int(p) => rows(p, scales, offsets, gsum, nb, per_row, planes, d, y),
        Sums::Float(p) => rows(p, scales, offsets, gsum, nb, per_row, planes, d, y),
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows<P: Copy + Into<f64>>(
    p: &[P],
    scales: &[f32],
    offsets: Option<&[f32]>,
    gsum: &[f64],
    nb: usize,
    per_row: usize,
    planes: usize,
    d: f32,
    y: &mut [f32],
) {
    let d = d as f64;
    if per_row == 1 && offsets.is_none() {
        // Per-tensor or per-row scales: a loop that vectorizes.
        for ((y, &v), &s) in y.iter_mut().zip(p).zip(scales) {
            *y = (v.into() * s as f64 * d) as f32;
        }
        return;
    }
    for (r, y) in y.iter_mut().enumerate() {
        let pr = &p[r * per_row..][..per_row];
        let sr = &scales[r * per_row..][..per_row];
        let mut acc = 0f64;
        for g in 0..nb {
            for i in 0..planes {
                acc += pr[g * planes + i].into() * sr[g * planes + i] as f64;
            }
            if let Some(o) = offsets {
                acc += o[r * nb + g] as f64 * gsum[g];
            }
        }
        *y = (acc * d) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_spurious_overflow_or_nan() {
        // 1 × 4 all +1 weights with scale 1e38, x = 1e-3 quantized to 127
        // with d = 1e-3 / 127: the answer is 4e35, not inf.
        let mut y = [0f32];
        let d = 1e-3f32 / 127.0;
        scale_rows(
            Sums::Int(&[4 * 127]),
            &[1e38],
            None,
            &[0.0],
            1,
            1,
            d,
            &mut y,
        );
        assert!((y[0] / 4e35 - 1.0).abs() < 1e-6, "{}", y[0]);
        // Mixed-sign huge group scales whose contributions cancel: 0, not NaN.
        scale_rows(
            Sums::Int(&[127, 127]),
            &[3e38, -3e38],
            None,
            &[0.0; 2],
            2,
            1,
            1.0,
            &mut y,
        );
        assert_eq!(y[0], 0.0);
        // Offsets: o · Σx.
        scale_rows(
            Sums::Float(&[2.0]),
            &[0.5],
            Some(&[-1.0]),
            &[3.0],
            1,
            1,
            1.0,
            &mut y,
        );
        assert_eq!(y[0], -2.0);
    }
}
