//! Bit-serial g = 4 tables (T-MAC style): for group `j` (padded positions
//! `4j..4j+4`), 16 entries `T[e] = Σ_{c < 4, bit c of e set} x[4j + c]`,
//! looked up once per bit plane of the weights.
//!
//! Mirror symmetry halves the integer build: `T[15 − e] = S − T[e]` with
//! `S = T[15]`, so only entries 0..8 are summed and 8..16 are derived
//! (exact in integers; the Fast tables' f32 entries are defined the same
//! way before re-quantization, which their SIMD builders reproduce). Float
//! tables are built directly, `T[8 + i] = T[i] + x₃`, for the same one add
//! per entry: `S − T[e]` would cancel, an error of ~ulp(Σ|x|) where a
//! large activation meets zero weights.
//!
//! Per group: Exact 32 bytes (16 low bytes, then 16 high bytes of the
//! int16 entries, |T| ≤ 508); Fast 16 int8 entries (scale per span);
//! Float 16 f32 entries (64 bytes).

use crate::contract::Contract;
use crate::kernels::abi::{TableArgs, TableFn};

const ENTRIES: usize = 16;

/// The first 8 entries: subsets of {x₀, x₁, x₂}.
#[inline]
fn low_entries<T: Copy + Default + std::ops::Add<Output = T>>(x: [T; 4]) -> [T; 16] {
    let mut t = [T::default(); 16];
    t[1] = x[0];
    t[2] = x[1];
    t[3] = x[0] + x[1];
    for i in 0..4 {
        t[4 + i] = t[i] + x[2];
    }
    t
}

/// The 16 entries, 8..16 directly (Float tables).
#[inline]
fn direct_entries(x: [f32; 4]) -> [f32; 16] {
    let mut t = low_entries(x);
    for i in 0..8 {
        t[8 + i] = t[i] + x[3];
    }
    t
}

/// The 16 entries from the first 8 (mirror symmetry).
#[inline]
fn entries<T: Copy + Default + std::ops::Add<Output = T> + std::ops::Sub<Output = T>>(
    x: [T; 4],
) -> [T; 16] {
    let mut t = low_entries(x);
    let s = t[7] + x[3];
    for e in 0..8 {
        t[15 - e] = s - t[e];
    }
    t
}

/// Exact tables for a padded int8 token; `tables` is `kp / 4 · 32` bytes.
pub fn build_exact(qpad: &[i8], tables: &mut [u8]) {
    for (x, t) in qpad
        .chunks_exact(4)
        .zip(tables.chunks_exact_mut(2 * ENTRIES))
    {
        let e = entries([x[0] as i16, x[1] as i16, x[2] as i16, x[3] as i16]);
        let (lo, hi) = t.split_at_mut(ENTRIES);
        super::split_bytes(&e, lo, hi);
    }
}

/// Float tables for a padded f32 token; `tables` is `kp / 4 · 16` floats.
pub fn build_float(xpad: &[f32], tables: &mut [f32]) {
    for (x, t) in xpad.chunks_exact(4).zip(tables.chunks_exact_mut(ENTRIES)) {
        t.copy_from_slice(&direct_entries([x[0], x[1], x[2], x[3]]));
    }
}

/// The f32 entries the Fast tables re-quantize (mirror symmetry).
fn build_fast_f32(xpad: &[f32], tables: &mut [f32]) {
    for (x, t) in xpad.chunks_exact(4).zip(tables.chunks_exact_mut(ENTRIES)) {
        t.copy_from_slice(&entries([x[0], x[1], x[2], x[3]]));
    }
}

super::portable_builders!(group: 4, entries: ENTRIES, fast_f32: build_fast_f32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_entries_are_subset_sums() {
        let q: [i8; 8] = [127, -127, 5, -1, 127, 127, 127, 127];
        let mut t = vec![0u8; 2 * 32];
        build_exact(&q, &mut t);
        for j in 0..2 {
            for e in 0..16 {
                let want: i16 = (0..4)
                    .filter(|c| e >> c & 1 == 1)
                    .map(|c| q[4 * j + c] as i16)
                    .sum();
                let g = &t[32 * j..];
                assert_eq!(crate::lut::entry(g[e], g[16 + e]), want);
            }
        }
    }

    #[test]
    fn fast_entries_within_half_a_step() {
        let x: Vec<f32> = (0..128)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.1)
            .collect();
        let mut t = vec![0u8; 32 * 16];
        let mut s = vec![0f32; 2];
        build_fast(&x, 64, &mut t, &mut s);
        let mut f = vec![0f32; 32 * 16];
        build_float(&x, &mut f);
        for (i, (&q, &v)) in t.iter().zip(&f).enumerate() {
            let scale = s[i / (16 * 16)];
            assert!((q as i8 as f32 * scale - v).abs() <= scale * 0.5001, "{i}");
        }
    }
}
