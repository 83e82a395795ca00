//! Activation preparation: padding, block sums and lookup tables.
//!
//! A token's int8 activations are first laid out like a packed row: each
//! scale block of `bl` values padded with zeros to `bp` (`qpad`, `kp`
//! bytes). From that:
//!
//! - the multiply-add layout reads `qpad` directly, plus the per-block sums
//!   `Σ q` (its weights are stored as `code + 1`, so `Σ q·code = Σ q·(code+1)
//!   − Σ q`);
//! - the g = 2 tables ([`LUT2_GROUP_BYTES`] per 2 activations): for group
//!   `j` (padded positions `2j, 2j+1`), 16 low bytes then 16 high bytes of
//!   the int16 entries `T[3a + b] = (a−1)·q[2j] + (b−1)·q[2j+1]`, entries
//!   9..16 zero;
//! - the g = 4 tables ([`LUT4_GROUP_BYTES`] per 4 activations): for group
//!   `j` (positions `4j..4j+4`), 128 low bytes then 128 high bytes of
//!   `T[27a + 9b + 3c + d] = (a−1)·q₀ + (b−1)·q₁ + (c−1)·q₂ + (d−1)·q₃`,
//!   entries 81..128 zero.
//!
//! Entries are split into low and high bytes because a sum of 2 (4) int8
//! values needs 9 (10) bits and byte shuffles return bytes: the exact
//! contract cannot requantize them. The kernels recombine them with
//! `vpunpck{l,h}bw` into exact int16.

use crate::pack::Geometry;

/// Table bytes per g = 2 group (2 activations).
pub const LUT2_GROUP_BYTES: usize = 32;
/// Table bytes per g = 4 group (4 activations).
pub const LUT4_GROUP_BYTES: usize = 256;

/// Scatters a token (`q`, k values) into the padded block layout (`qpad`,
/// `kp` values, padding zero).
pub(crate) fn pad_token(q: &[i8], geo: &Geometry, qpad: &mut [i8]) {
    debug_assert_eq!(q.len(), geo.k);
    debug_assert_eq!(qpad.len(), geo.kp);
    if geo.bl == geo.bp {
        qpad.copy_from_slice(q);
        return;
    }
    for (src, dst) in q.chunks_exact(geo.bl).zip(qpad.chunks_exact_mut(geo.bp)) {
        dst[..geo.bl].copy_from_slice(src);
        dst[geo.bl..].fill(0);
    }
}

/// `sums[b] = Σ qpad[b·bp .. (b+1)·bp]`.
pub(crate) fn block_sums(qpad: &[i8], bp: usize, sums: &mut [i32]) {
    for (s, block) in sums.iter_mut().zip(qpad.chunks_exact(bp)) {
        *s = block.iter().map(|&v| v as i32).sum();
    }
}

/// Builds the g = 2 tables for a padded token; `tables` is
/// `kp / 2 · LUT2_GROUP_BYTES` long.
pub fn build_tables_lut2(qpad: &[i8], tables: &mut [u8]) {
    debug_assert_eq!(tables.len(), qpad.len() / 2 * LUT2_GROUP_BYTES);
    for (pair, t) in qpad
        .chunks_exact(2)
        .zip(tables.chunks_exact_mut(LUT2_GROUP_BYTES))
    {
        let (x0, x1) = (pair[0] as i16, pair[1] as i16);
        let (lo, hi) = t.split_at_mut(16);
        for e in 0..9 {
            let v = (e / 3 - 1) as i16 * x0 + (e % 3 - 1) as i16 * x1;
            lo[e as usize] = v as u8;
            hi[e as usize] = (v >> 8) as u8;
        }
        lo[9..].fill(0);
        hi[9..].fill(0);
    }
}

/// Builds the g = 4 tables for a padded token; `tables` is
/// `kp / 4 · LUT4_GROUP_BYTES` long.
pub fn build_tables_lut4(qpad: &[i8], tables: &mut [u8]) {
    debug_assert_eq!(tables.len(), qpad.len() / 4 * LUT4_GROUP_BYTES);
    for (quad, t) in qpad
        .chunks_exact(4)
        .zip(tables.chunks_exact_mut(LUT4_GROUP_BYTES))
    {
        // T = P[a, b] + Q[c, d]: two 9-entry half tables, 81 sums.
        let half = |x0: i8, x1: i8| -> [i16; 9] {
            std::array::from_fn(|e| (e as i16 / 3 - 1) * x0 as i16 + (e as i16 % 3 - 1) * x1 as i16)
        };
        let p = half(quad[0], quad[1]);
        let q = half(quad[2], quad[3]);
        let (lo, hi) = t.split_at_mut(128);
        for (a, &pa) in p.iter().enumerate() {
            for (b, &qb) in q.iter().enumerate() {
                let v = pa + qb;
                lo[9 * a + b] = v as u8;
                hi[9 * a + b] = (v >> 8) as u8;
            }
        }
        lo[81..].fill(0);
        hi[81..].fill(0);
    }
}

/// The int16 value of table entry `e` from its two bytes.
#[inline(always)]
pub(crate) fn entry(lo: u8, hi: u8) -> i16 {
    i16::from_le_bytes([lo, hi])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lut4_entries_are_signed_sums() {
        let q: [i8; 4] = [127, -127, 5, -1];
        let mut t = vec![0u8; LUT4_GROUP_BYTES];
        build_tables_lut4(&q, &mut t);
        for a in 0..3i16 {
            for b in 0..3i16 {
                for c in 0..3i16 {
                    for d in 0..3i16 {
                        let e = (27 * a + 9 * b + 3 * c + d) as usize;
                        let want = (a - 1) * 127 + (b - 1) * -127 + (c - 1) * 5 - (d - 1);
                        assert_eq!(entry(t[e], t[128 + e]), want);
                    }
                }
            }
        }
    }

    #[test]
    fn lut2_entries_are_signed_sums() {
        let q: [i8; 2] = [-127, -127];
        let mut t = vec![0u8; LUT2_GROUP_BYTES];
        build_tables_lut2(&q, &mut t);
        for a in 0..3i16 {
            for b in 0..3i16 {
                let e = (3 * a + b) as usize;
                assert_eq!(entry(t[e], t[16 + e]), (a - 1) * -127 + (b - 1) * -127);
            }
        }
    }
}
