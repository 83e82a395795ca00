//! Ternary g = 2 tables (bitnet.cpp TL1 style): for group `j` (padded
//! positions `2j, 2j+1`), entries `T[3a + b] = (a−1)·x[2j] + (b−1)·x[2j+1]`,
//! a, b ∈ {0, 1, 2}; entries 9..16 are zero.
//!
//! Per group: Exact 32 bytes (16 low bytes, then 16 high bytes of the
//! int16 entries); Fast 16 int8 entries (scale per span); Float 16 f32.

use crate::contract::Contract;
use crate::kernels::abi::{TableArgs, TableFn};

const ENTRIES: usize = 16;

#[inline]
fn entries<T: Copy + Default + std::ops::Neg<Output = T> + std::ops::Add<Output = T>>(
    x0: T,
    x1: T,
) -> [T; 16] {
    let zero = T::default();
    let v = |c: usize, x: T| [-x, zero, x][c];
    let mut t = [zero; 16];
    for (e, t) in t.iter_mut().enumerate().take(9) {
        *t = v(e / 3, x0) + v(e % 3, x1);
    }
    t
}

/// Exact tables for a padded int8 token; `tables` is `kp / 2 · 32` bytes.
pub fn build_exact(qpad: &[i8], tables: &mut [u8]) {
    for (x, t) in qpad
        .chunks_exact(2)
        .zip(tables.chunks_exact_mut(2 * ENTRIES))
    {
        let e = entries(x[0] as i16, x[1] as i16);
        let (lo, hi) = t.split_at_mut(ENTRIES);
        super::split_bytes(&e, lo, hi);
    }
}

/// Float tables for a padded f32 token; `tables` is `kp / 2 · 16` floats.
pub fn build_float(xpad: &[f32], tables: &mut [f32]) {
    for (x, t) in xpad.chunks_exact(2).zip(tables.chunks_exact_mut(ENTRIES)) {
        t.copy_from_slice(&entries(x[0], x[1]));
    }
}

super::portable_builders!(group: 2, entries: ENTRIES, fast_f32: build_float);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_entries_are_signed_sums() {
        let q: [i8; 2] = [-127, -127];
        let mut t = vec![0u8; 32];
        build_exact(&q, &mut t);
        for a in 0..3i16 {
            for b in 0..3i16 {
                let e = (3 * a + b) as usize;
                let want = (a - 1) * -127 + (b - 1) * -127;
                assert_eq!(crate::lut::entry(t[e], t[16 + e]), want);
            }
        }
    }
}
