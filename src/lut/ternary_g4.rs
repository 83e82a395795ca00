//! Ternary g = 4 tables: for group `j` (padded positions `4j..4j+4`),
//! entries `T[27a + 9b + 3c + d] = P[a, b] + Q[c, d]` with
//! `P[a, b] = (a−1)·x₀ + (b−1)·x₁`, `Q[c, d] = (c−1)·x₂ + (d−1)·x₃`;
//! entries 81..128 are zero. 128 entries suit AVX-512 VBMI `vpermi2b`.
//!
//! Per group: Exact 256 bytes (128 low bytes, then 128 high bytes of the
//! int16 entries); Fast 128 int8 entries (scale per span); Float 128 f32.

use crate::contract::Contract;
use crate::kernels::abi::{TableArgs, TableFn};

const ENTRIES: usize = 128;

#[inline]
fn entries<T: Copy + Default + std::ops::Neg<Output = T> + std::ops::Add<Output = T>>(
    x: [T; 4],
    out: &mut [T],
) {
    let zero = T::default();
    let v = |c: usize, x: T| [-x, zero, x][c];
    let half = |x0: T, x1: T| -> [T; 9] { std::array::from_fn(|e| v(e / 3, x0) + v(e % 3, x1)) };
    let p = half(x[0], x[1]);
    let q = half(x[2], x[3]);
    for (a, &pa) in p.iter().enumerate() {
        for (b, &qb) in q.iter().enumerate() {
            out[9 * a + b] = pa + qb;
        }
    }
    out[81..ENTRIES].fill(zero);
}

/// Exact tables for a padded int8 token; `tables` is `kp / 4 · 256` bytes.
pub fn build_exact(qpad: &[i8], tables: &mut [u8]) {
    let mut e = [0i16; ENTRIES];
    for (x, t) in qpad
        .chunks_exact(4)
        .zip(tables.chunks_exact_mut(2 * ENTRIES))
    {
        entries([x[0] as i16, x[1] as i16, x[2] as i16, x[3] as i16], &mut e);
        let (lo, hi) = t.split_at_mut(ENTRIES);
        super::split_bytes(&e, lo, hi);
    }
}

/// Float tables for a padded f32 token; `tables` is `kp / 4 · 128` floats.
pub fn build_float(xpad: &[f32], tables: &mut [f32]) {
    for (x, t) in xpad.chunks_exact(4).zip(tables.chunks_exact_mut(ENTRIES)) {
        entries([x[0], x[1], x[2], x[3]], t);
    }
}

super::portable_builders!(group: 4, entries: ENTRIES, fast_f32: build_float);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_entries_are_signed_sums() {
        let q: [i8; 4] = [127, -127, 5, -1];
        let mut t = vec![0u8; 256];
        build_exact(&q, &mut t);
        for a in 0..3i16 {
            for b in 0..3i16 {
                for c in 0..3i16 {
                    for d in 0..3i16 {
                        let e = (27 * a + 9 * b + 3 * c + d) as usize;
                        let want = (a - 1) * 127 + (b - 1) * -127 + (c - 1) * 5 - (d - 1);
                        assert_eq!(crate::lut::entry(t[e], t[128 + e]), want);
                    }
                }
            }
        }
    }
}
