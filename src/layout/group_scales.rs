//! Group scales stored for kernels that apply them themselves (fused group
//! scaling, `kernels/lutgemm_kernels.h`): the pack-time check that decides
//! between the fused f32 path and the f64 epilogue, and the byte order the
//! kernels read.
//!
//! Byte order: row group after row group, `row_group_bytes` apart; within
//! a row group, scale group after scale group, the `mr` scales of its rows
//! (padding rows: 0), then, when any offset of the matrix is nonzero, their
//! `mr` offsets, unless every offset is `−z · s` with `z = 2^(b−1)`
//! (symmetric b-bit weights, GGUF Q4_0 style): then the kernels fold the
//! offsets into the integer sums as a zero point, `isum − z · qsum` (exact),
//! one FMA per group instead of two, and no offsets are stored. Elements are f16 when every scale and offset is an f16
//! value (f32 → f16 → f32 gives it back: GGUF and GPTQ store f16 scales,
//! and [`crate::IntQuantizer::with_f16_scales`] rounds to them), else f32.
//! A 16-row group of 4-bit weights in groups of 32 is 256 bytes of codes
//! per scale group, plus 32 bytes of f16 scales and 32 of f16 offsets
//! (f32: 64 + 64), read as one separate sequential stream per row group.
//!
//! The magnitude check ([`fusable`]): the kernels accumulate
//! `Σ_g s·isum + o·qsum` in f32, and f32's range is small enough that huge
//! scales could overflow where the f64 epilogue does not (a scale of 1e38
//! times a sum of 127 is beyond f32, the f64 product rescaled by a small
//! token factor `d` is not). Every nonzero |s| and |o| in
//! [2^−64, 2^64] keeps every product and partial sum of the fused path
//! finite and normal: a row's Σ_g |isum_g| ≤ 15 · 127 · k and
//! Σ_g |qsum_g| ≤ 127 · k are below 2^28 (k ≤ MAX_K = 2^17), so every
//! partial sum stays below 2^93, far from f32's 2^128; each nonzero term
//! is at least 2^−64, far above f32's smallest normal 2^−126, so the error
//! bound of `src/epilogue.rs` holds. Weights outside the range keep the
//! f64 epilogue.

use super::Geometry;
use crate::aligned::AlignedBuf;
use crate::format::Dequantize;
use half::f16;

/// Largest and smallest nonzero magnitude of a fused scale or offset:
/// 2^64 and 2^−64.
const MAX_MAG: f32 = 18_446_744_073_709_551_616.0;
const MIN_MAG: f32 = 1.0 / MAX_MAG;

/// Whether a scale or offset may be applied by the fused f32 path.
pub(crate) fn fusable(v: f32) -> bool {
    v == 0.0 || (MIN_MAG..=MAX_MAG).contains(&v.abs())
}

/// Whether `v` is an f16 value (converts to f16 and back exactly).
fn is_f16(v: f32) -> bool {
    f16::from_f32(v).to_f32().to_bits() == v.to_bits()
}

/// The stored group scales of one packed matrix (see the module doc).
pub(crate) struct GroupScales {
    pub bytes: AlignedBuf,
    /// Elements are f16 (else f32).
    pub f16: bool,
    /// Offsets follow each scale group's scales.
    pub offsets: bool,
    /// Every offset is `−z · s`, `z = 2^(bits−1)`: folded into the integer
    /// sums, not stored (then `offsets` is false).
    pub zero_point: bool,
    /// Bytes per row group.
    pub row_group_bytes: usize,
}

impl GroupScales {
    /// The scales of `w` in the kernels' order, or `None` when a scale or
    /// offset fails [`fusable`] (or `w` has per-plane scales).
    pub fn build<W: Dequantize + ?Sized>(w: &W, geo: &Geometry) -> Option<GroupScales> {
        if w.has_plane_scales() {
            return None;
        }
        let (m, nb, mr) = (geo.m, geo.nb, geo.mr);
        // −z·s is exact in f32 (z a power of two) within the fusable range.
        let z = (1u32 << (geo.bits.max(1) - 1)) as f32;
        let (mut f16_ok, mut offsets, mut zero_point) = (true, false, true);
        for r in 0..m {
            for g in 0..nb {
                let (s, o) = (w.scale(r, g), w.offset(r, g));
                if !fusable(s) || !fusable(o) {
                    return None;
                }
                f16_ok &= is_f16(s) && is_f16(o);
                offsets |= o != 0.0;
                zero_point &= o == -z * s;
            }
        }
        // Without offsets there is nothing to fold; 1-bit weights have no
        // symmetric zero point (their symmetric quantizer stores o = −s/2).
        let zero_point = zero_point && offsets && geo.bits >= 2;
        let offsets = offsets && !zero_point;
        let elem = if f16_ok { 2 } else { 4 };
        let per_group = mr * elem * if offsets { 2 } else { 1 };
        let row_group_bytes = nb * per_group;
        let mut bytes = AlignedBuf::zeroed(geo.row_groups * row_group_bytes);
        let out = bytes.bytes_mut();
        let mut put = |at: usize, v: f32| {
            if f16_ok {
                out[at..at + 2].copy_from_slice(&f16::from_f32(v).to_ne_bytes());
            } else {
                out[at..at + 4].copy_from_slice(&v.to_ne_bytes());
            }
        };
        for r in 0..m {
            let (rg, i) = (r / mr, r % mr);
            for g in 0..nb {
                let at = rg * row_group_bytes + g * per_group + i * elem;
                put(at, w.scale(r, g));
                if offsets {
                    put(at + mr * elem, w.offset(r, g));
                }
            }
        }
        Some(GroupScales {
            bytes,
            f16: f16_ok,
            offsets,
            zero_point,
            row_group_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnitude_limits() {
        assert_eq!(MIN_MAG, 2f32.powi(-64));
        assert_eq!(MAX_MAG, 2f32.powi(64));
        for v in [0.0, -0.0, 1.0, -3.5e-5, 1.8e19, -5.5e-20] {
            assert!(fusable(v), "{v}");
        }
        for v in [
            1e38,
            -3e38,
            1e-30,
            2f32.powi(64) * 1.0000001,
            f32::MIN_POSITIVE,
        ] {
            assert!(!fusable(v), "{v}");
        }
        assert!(is_f16(0.5) && is_f16(-0.0) && is_f16(65504.0) && is_f16(2f32.powi(-24)));
        assert!(!is_f16(0.1) && !is_f16(65520.0) && !is_f16(2f32.powi(-25)));
    }
}
