//! The final float scaling, applied once per (token, row) after the kernel:
//!
//! `y = f32( d · Σ_g ( Σ_p s[r, g, p] · P[g, p] + o[r, g] · X[g] ) )`
//!
//! where `P` are the kernel's sums for the row (one per group, or one per
//! group and bit plane with per-plane scales), `X[g]` the group's
//! activation sum (`Σ q` for Exact, `Σ x` for Fast and Float), and `d` the
//! token's dequantization factor (1 for Fast and Float).
//!
//! Policy: everything is evaluated in f64 in one fixed order (groups
//! summed in 8 interleaved lanes, then pairwise: see [`LANES`]) and rounded
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
//!
//! **Fused group scaling** (Exact contract, multiply-add integer kernels:
//! `PackedWeights::group_scaling`). With weights whose every scale and
//! offset is 0 or of magnitude in [2^−64, 2^64] (checked once, at pack
//! time: `src/layout/group_scales.rs`), the kernel itself accumulates, per
//! (token, row), in f32 and in one fixed order (`kernels/lutgemm_kernels.h`)
//!
//! `acc = Σ_g s_g · f32(isum_g) + o_g · qsum_g`   (two FMAs per group),
//!
//! or, for symmetric weights (every offset `o_g = −z · s_g` with
//! `z = 2^(b−1)`: [`crate::IntQuantizer::Symmetric`], GGUF Q4_0), with the
//! offset folded into the exact integer sum as a zero point,
//!
//! `acc = Σ_g s_g · f32(isum_g − z · qsum_g)`   (one FMA per group),
//!
//! and [`scale_fused`] writes `y = f32(acc · d)` (the product exact in
//! f64, one rounding). Every ISA computes the portable kernel's bits, for
//! every thread count. The range check keeps the no-spurious-overflow
//! promise: every partial sum stays below 2^93 and every nonzero term
//! above 2^−64, whatever the int8 activations and k ≤ MAX_K; weights
//! outside it (or with per-plane scales, or on table layouts) take the f64
//! path above. Error bound, with `u = 2^−24`, `γ_j = j·u / (1 − j·u)`,
//! `nb` groups and `y* = d · Σ_g (s_g · isum_g + o_g · qsum_g)` exactly:
//!
//! `|y − y*| ≤ u·|y*| + 2^−150 + (1 + u) · γ_{3·nb} · |d| · Σ_g (|s_g · isum_g| + |o_g · qsum_g|)`
//!
//! (the first two terms the final rounding to f32, 2^−150 where `y` is
//! subnormal; at most two FMA roundings and one int → f32 conversion per
//! group, none underflowing within the range; the zero-point form has one
//! FMA per group and `|s_g · (isum_g − z·qsum_g)|` at most the sum of the
//! two terms, so the same bound holds; the
//! conversion is exact while |isum| < 2^24, i.e. groups shorter than 8808
//! columns). This is the "scales and offsets applied in f32"; it is
//! a bound on cancellation, and for a typical row the error is a few ulps.

/// A row tile's kernel sums for one token: rows × nb × planes.
pub(crate) enum Sums<'a> {
    Int(&'a [i32]),
    Float(&'a [f32]),
}

/// Lanes of the per-row group sum: groups `g ≡ j (mod LANES)` add into lane
/// `j`, and the lanes are combined pairwise at the end. A fixed order (so
/// results do not depend on the kernel, tiling or thread count) that
/// vectorizes; with hundreds of groups per row (int4, groups of 32) a
/// sequential f64 sum cost more than the kernel.
const LANES: usize = 8;

/// One token's rows for [`scale_rows`]: `scales` are rows × nb × planes,
/// `offsets` rows × nb, `gsum` the token's nb group sums, `d` its factor.
pub(crate) struct Rows<'a> {
    pub sums: Sums<'a>,
    pub scales: &'a [f32],
    pub offsets: Option<&'a [f32]>,
    pub gsum: &'a [f64],
    pub nb: usize,
    pub planes: usize,
    pub d: f32,
}

/// Scales one token's rows into `y`, with the widest f64 vectors this CPU
/// has (every build computes the same bits: the order is fixed).
pub(crate) fn scale_rows(r: &Rows, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::isa::Isa;
        if Isa::Avx512.is_available() {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { scale_rows_avx512(r, y) };
        }
        if Isa::Avx2.is_detected() {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { scale_rows_avx2(r, y) };
        }
    }
    scale_rows_body(r, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
unsafe fn scale_rows_avx512(r: &Rows, y: &mut [f32]) {
    scale_rows_body(r, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scale_rows_avx2(r: &Rows, y: &mut [f32]) {
    scale_rows_body(r, y)
}

#[inline(always)]
fn scale_rows_body(r: &Rows, y: &mut [f32]) {
    let (s, o, g, nb, planes, d) = (r.scales, r.offsets, r.gsum, r.nb, r.planes, r.d);
    match r.sums {
        Sums::Int(p) => rows(p, s, o, g, nb, planes, d, y),
        Sums::Float(p) => rows(p, s, o, g, nb, planes, d, y),
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
    planes: usize,
    d: f32,
    y: &mut [f32],
) {
    let d = d as f64;
    let per_row = nb * planes;
    if per_row == 1 && offsets.is_none() {
        // Per-tensor or per-row scales: one product per row.
        for ((y, &v), &s) in y.iter_mut().zip(p).zip(scales) {
            *y = (v.into() * s as f64 * d) as f32;
        }
        return;
    }
    for (r, y) in y.iter_mut().enumerate() {
        let pr = &p[r * per_row..][..per_row];
        let sr = &scales[r * per_row..][..per_row];
        let mut acc = [0f64; LANES];
        if planes == 1 {
            // The common case, written as whole lanes so it vectorizes.
            let full = nb / LANES * LANES;
            match offsets {
                Some(o) => {
                    let or = &o[r * nb..][..nb];
                    for (((pc, sc), oc), xc) in pr[..full]
                        .chunks_exact(LANES)
                        .zip(sr.chunks_exact(LANES))
                        .zip(or.chunks_exact(LANES))
                        .zip(gsum.chunks_exact(LANES))
                    {
                        for j in 0..LANES {
                            acc[j] += pc[j].into() * sc[j] as f64 + oc[j] as f64 * xc[j];
                        }
                    }
                    for g in full..nb {
                        acc[g - full] += pr[g].into() * sr[g] as f64 + or[g] as f64 * gsum[g];
                    }
                }
                None => {
                    for (pc, sc) in pr[..full].chunks_exact(LANES).zip(sr.chunks_exact(LANES)) {
                        for j in 0..LANES {
                            acc[j] += pc[j].into() * sc[j] as f64;
                        }
                    }
                    for g in full..nb {
                        acc[g - full] += pr[g].into() * sr[g] as f64;
                    }
                }
            }
        } else {
            for g in 0..nb {
                let mut t = pr[g * planes].into() * sr[g * planes] as f64;
                for i in 1..planes {
                    t += pr[g * planes + i].into() * sr[g * planes + i] as f64;
                }
                if let Some(o) = offsets {
                    t += o[r * nb + g] as f64 * gsum[g];
                }
                acc[g % LANES] += t;
            }
        }
        let total =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        *y = (total * d) as f32;
    }
}

/// `y = f32(acc · d)` for one token's fused kernel outputs (`acc`: one
/// f32 per row): the product of two f32 is exact in f64, so this is one
/// rounding, and a result beyond f32's range is ±inf only when it is.
pub(crate) fn scale_fused(acc: &[f32], d: f32, y: &mut [f32]) {
    let d = d as f64;
    for (y, &a) in y.iter_mut().zip(acc) {
        *y = (a as f64 * d) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sums: Sums, scales: &[f32], offsets: Option<&[f32]>, gsum: &[f64], d: f32) -> f32 {
        let mut y = [0f32];
        let r = Rows {
            sums,
            scales,
            offsets,
            gsum,
            nb: scales.len(),
            planes: 1,
            d,
        };
        scale_rows(&r, &mut y);
        y[0]
    }

    #[test]
    fn no_spurious_overflow_or_nan() {
        // 1 × 4 all +1 weights with scale 1e38, x = 1e-3 quantized to 127
        // with d = 1e-3 / 127: the answer is 4e35, not inf.
        let y = one(Sums::Int(&[4 * 127]), &[1e38], None, &[0.0], 1e-3 / 127.0);
        assert!((y / 4e35 - 1.0).abs() < 1e-6, "{y}");
        // Mixed-sign huge group scales whose contributions cancel: 0, not NaN.
        let y = one(Sums::Int(&[127, 127]), &[3e38, -3e38], None, &[0.0; 2], 1.0);
        assert_eq!(y, 0.0);
        // Offsets: o · Σx.
        let y = one(Sums::Float(&[2.0]), &[0.5], Some(&[-1.0]), &[3.0], 1.0);
        assert_eq!(y, -2.0);
    }

    #[test]
    fn many_groups_use_the_fixed_lane_order() {
        // 19 groups: two full lane sets and a tail, against a direct f64
        // evaluation of the same order.
        let p: Vec<i32> = (0..19).map(|g| g * 1000 - 7000).collect();
        let s: Vec<f32> = (0..19).map(|g| 0.1 + g as f32 * 0.37).collect();
        let o: Vec<f32> = (0..19).map(|g| g as f32 * -0.5).collect();
        let x: Vec<f64> = (0..19).map(|g| g as f64 * 3.0).collect();
        let mut acc = [0f64; LANES];
        for g in 0..19 {
            acc[g % LANES] += p[g] as f64 * s[g] as f64 + o[g] as f64 * x[g];
        }
        let want =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        let y = one(Sums::Int(&p), &s, Some(&o), &x, 0.5);
        assert_eq!(y, (want * 0.5) as f32);
    }
}
