//! The pack function of each layout (byte orders: see [`super::Layout`]).

use super::Geometry;
use crate::format::{Dequantize, Format};

/// Code at (row, padded position); padding rows and columns are 0 (for
/// ternary layouts `code + 1` of a padding weight is then 1, the zero
/// weight).
#[inline]
fn code_at<W: Dequantize + ?Sized>(w: &W, geo: &Geometry, r: usize, p: usize) -> i32 {
    match geo.column(p) {
        Some(c) if r < geo.m => w.code(r, c),
        _ => 0,
    }
}

pub(super) fn ternary_mad<W: Dequantize + ?Sized>(
    w: &W,
    geo: &Geometry,
    kc: usize,
    out: &mut [u8],
) {
    let q = kc / 4;
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * geo.mr;
        let mut bytes = group.chunks_exact_mut(q);
        for ch in 0..geo.kp / kc {
            for i in 0..geo.mr {
                let row = bytes.next().expect("group sized by geometry");
                for (j, byte) in row.iter_mut().enumerate() {
                    let mut v = 0u8;
                    for s in 0..4 {
                        let c = code_at(w, geo, row0 + i, ch * kc + j + s * q);
                        v |= ((c + 1) as u8) << (2 * s);
                    }
                    *byte = v;
                }
            }
        }
    }
}

pub(super) fn ternary_mad5<W: Dequantize + ?Sized>(w: &W, geo: &Geometry, out: &mut [u8]) {
    use super::trit5::{STEP, encode};
    let mr = geo.mr;
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * mr;
        // A step is mr rows × 4 bytes; byte j holds columns 4i + j.
        for (s, step) in group.chunks_exact_mut(4 * mr).enumerate() {
            for (rj, byte) in step.iter_mut().enumerate() {
                let (r, j) = (rj / 4, rj % 4);
                let c = |i: usize| (code_at(w, geo, row0 + r, s * STEP + 4 * i + j) + 1) as u8;
                *byte = encode([c(0), c(1), c(2), c(3), c(4)]);
            }
        }
    }
}

pub(super) fn ternary_lut_g2<W: Dequantize + ?Sized>(w: &W, geo: &Geometry, out: &mut [u8]) {
    let mr = geo.mr;
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * mr;
        for (p, bytes) in group.chunks_exact_mut(mr).enumerate() {
            for (i, byte) in bytes.iter_mut().enumerate() {
                let c = |o: usize| (code_at(w, geo, row0 + i, 4 * p + o) + 1) as u8;
                *byte = (3 * c(0) + c(1)) | ((3 * c(2) + c(3)) << 4);
            }
        }
    }
}

pub(super) fn ternary_lut_g4<W: Dequantize + ?Sized>(w: &W, geo: &Geometry, out: &mut [u8]) {
    let mr = geo.mr;
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * mr;
        for (j, bytes) in group.chunks_exact_mut(mr).enumerate() {
            for (i, byte) in bytes.iter_mut().enumerate() {
                let c = |o: usize| (code_at(w, geo, row0 + i, 4 * j + o) + 1) as u8;
                *byte = 27 * c(0) + 9 * c(1) + 3 * c(2) + c(3);
            }
        }
    }
}

pub(super) fn int_mad<W: Dequantize + ?Sized>(w: &W, geo: &Geometry, out: &mut [u8]) {
    let mr = geo.mr;
    let bits = geo.bits;
    let kc = geo.kc;
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * mr;
        // A step is mr · kc · bits / 8 bytes (64 for mr = 16).
        for (s, step) in group.chunks_exact_mut(mr * kc * bits / 8).enumerate() {
            for r in 0..mr {
                for j in 0..4 {
                    let mut v = 0u8;
                    for f in 0..8 / bits {
                        let q = code_at(w, geo, row0 + r, s * kc + 4 * f + j) as u8;
                        v |= q << (bits * f);
                    }
                    step[4 * r + j] = v;
                }
            }
        }
    }
}

pub(super) fn mad_field_rows<W: Dequantize + ?Sized>(w: &W, geo: &Geometry, out: &mut [u8]) {
    let mr = geo.mr;
    let lanes = mr / 4;
    assert!(geo.bits == 2 && geo.kc == 4 && mr % 4 == 0);
    // Ternary codes are stored as w + 1 (padding too: a zero weight).
    let bias = i32::from(w.format() == Format::Ternary);
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * mr;
        for (s, step) in group.chunks_exact_mut(mr).enumerate() {
            for j in 0..lanes {
                for c in 0..4 {
                    let mut v = 0u8;
                    for f in 0..4 {
                        let q = (code_at(w, geo, row0 + lanes * f + j, 4 * s + c) + bias) as u8;
                        v |= q << (2 * f);
                    }
                    step[4 * j + c] = v;
                }
            }
        }
    }
}

pub(super) fn int_bitlut_g4<W: Dequantize + ?Sized>(w: &W, geo: &Geometry, out: &mut [u8]) {
    let mr = geo.mr;
    let bits = geo.bits;
    // Ternary: signed planes, q = w mod 3 (1 → plane 0, −1 → plane 1).
    let ternary = w.format() == Format::Ternary;
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * mr;
        for (sp, bytes) in group.chunks_exact_mut(mr).enumerate() {
            let (s, plane) = (sp / bits, sp % bits);
            for (r, byte) in bytes.iter_mut().enumerate() {
                let mut v = 0u8;
                for c in 0..8 {
                    let mut q = code_at(w, geo, row0 + r, 8 * s + c);
                    if ternary {
                        q = q.rem_euclid(3);
                    }
                    v |= (((q >> plane) & 1) as u8) << c;
                }
                *byte = v;
            }
        }
    }
}

pub(super) fn int_veclut<W: Dequantize + ?Sized>(w: &W, geo: &Geometry, out: &mut [u8]) {
    let mr = geo.mr;
    let f = super::int_veclut_field_bits(w.format());
    let cols = 8 / f;
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * mr;
        for (j, bytes) in group.chunks_exact_mut(mr).enumerate() {
            for (r, byte) in bytes.iter_mut().enumerate() {
                let mut v = 0u8;
                for c in 0..cols {
                    v |= (code_at(w, geo, row0 + r, cols * j + c) as u8) << (f * c);
                }
                *byte = v;
            }
        }
    }
}
