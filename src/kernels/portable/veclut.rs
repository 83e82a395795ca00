//! Portable vector-LUT kernel ([`Layout::TernaryVecLutG4`]): the SIMD
//! kernels' algorithm with plain loops and int32 accumulators (so it is an
//! oracle for their int16 flush cadence, not a copy of it).
//!
//! Per tile of [`VECLUT_TOKENS`] tokens, per scale group, per K-block of
//! [`VECLUT_KBLOCK`] groups of 4 columns: transpose the K-block's
//! activations to `[column][token]`, build one table row per ternary
//! pattern (`T[j][p][t] = Σ_c w_p[c] · q[t][4j + c]`), then for every row
//! add the row selected by its index byte into its accumulators.
//!
//! [`Layout::TernaryVecLutG4`]: crate::layout::Layout::TernaryVecLutG4

use crate::kernels::abi::KernelArgs;
use crate::layout::{
    VECLUT_KBLOCK as KB, VECLUT_TOKENS as NT, veclut_f32_scratch_bytes, veclut_scratch_bytes,
};
use crate::lut::requantize_spans;

/// Ternary patterns of 4 weights.
const PATTERNS: usize = 81;

/// Fills `t` (81 × NT) with every signed sum of the 4 columns in `x`
/// (4 × NT), pattern `27a + 9b + 3c + d` holding
/// `(a−1)·x₀ + (b−1)·x₁ + (c−1)·x₂ + (d−1)·x₃`.
fn build_group(x: &[i16], t: &mut [i16]) {
    for (p, row) in t.chunks_exact_mut(NT).enumerate().take(PATTERNS) {
        let w = [p / 27, p / 9 % 3, p / 3 % 3, p % 3].map(|c| c as i16 - 1);
        for (tok, v) in row.iter_mut().enumerate() {
            *v = (0..4).map(|c| w[c] * x[c * NT + tok]).sum();
        }
    }
}

/// # Safety
/// `a` was built by `run_kernel` for a `TernaryVecLutG4` layout (scratch
/// included).
pub(super) unsafe extern "C" fn ternary(a: *const KernelArgs) {
    // SAFETY: forwarded.
    let a = unsafe { &*a };
    let rows = a.row_groups * a.mr;
    assert!(a.kc == 4 && a.bp % 4 == 0 && a.plane_out == 1);
    assert!(a.scratch_bytes >= veclut_scratch_bytes(rows, a.nb));
    let kp = a.nb * a.bp;
    let (xt_len, tab_len) = (KB * 4 * NT, KB * PATTERNS * NT);
    // SAFETY: run_kernel checked the scratch (64-byte aligned, at least
    // veclut_scratch_bytes(rows, nb) bytes: xT and tables as i16, then the
    // accumulators as i32, each part a multiple of 64 bytes long).
    let (xt, tables, acc) = unsafe {
        let s = a.scratch;
        (
            std::slice::from_raw_parts_mut(s.cast::<i16>(), xt_len),
            std::slice::from_raw_parts_mut(s.add(2 * xt_len).cast::<i16>(), tab_len),
            std::slice::from_raw_parts_mut(s.add(2 * (xt_len + tab_len)).cast::<i32>(), rows * NT),
        )
    };
    // SAFETY: run_kernel checked row_groups · w_stride weight bytes, n
    // strided tokens of kp activations, and the output extent.
    let w = unsafe { std::slice::from_raw_parts(a.w, a.row_groups * a.w_stride) };
    let qpad = |t: usize| unsafe { std::slice::from_raw_parts(a.qpad.add(t * a.qpad_stride), kp) };
    let out = a.out.cast::<i32>();
    let groups_per_block = a.bp / 4;
    for t0 in (0..a.n).step_by(NT) {
        let nt = NT.min(a.n - t0);
        for b in 0..a.nb {
            acc.fill(0);
            let (j0, j1) = (b * groups_per_block, (b + 1) * groups_per_block);
            for kb0 in (j0..j1).step_by(KB) {
                let kbn = KB.min(j1 - kb0);
                for c in 0..4 * kbn {
                    for t in 0..NT {
                        xt[c * NT + t] = if t < nt {
                            qpad(t0 + t)[4 * kb0 + c] as i16
                        } else {
                            0
                        };
                    }
                }
                for j in 0..kbn {
                    build_group(
                        &xt[4 * j * NT..4 * (j + 1) * NT],
                        &mut tables[j * PATTERNS * NT..(j + 1) * PATTERNS * NT],
                    );
                }
                for (r, acc) in acc.chunks_exact_mut(NT).enumerate() {
                    let wg = &w[r / a.mr * a.w_stride..];
                    for j in 0..kbn {
                        let p = wg[(kb0 + j) * a.mr + r % a.mr] as usize;
                        let row = &tables[(j * PATTERNS + p) * NT..][..NT];
                        for (s, &v) in acc.iter_mut().zip(row) {
                            *s += v as i32;
                        }
                    }
                }
            }
            for (r, acc) in acc.chunks_exact(NT).enumerate() {
                for (t, &v) in acc.iter().enumerate().take(nt) {
                    // SAFETY: (token t0 + t < n, row r, group b) is within the
                    // output extent run_kernel checked.
                    unsafe { *out.add((t0 + t) * a.out_stride + r * a.nb + b) = v };
                }
            }
        }
    }
}

/// Float contract on the same bytes: per token, row and scale group, the
/// group's sum from +0.0 of its spans' sums, each from +0.0 over the span's
/// groups in order, of the entry `(wa·x₀ + wb·x₁) + (wc·x₂ + wd·x₃)` its
/// index byte selects (each product `−x`, `+0.0` or `x`). This defines
/// the bits of every SIMD Float vector-LUT (`kernels/veclut_float.h`),
/// which builds the same entries once per tile of tokens.
///
/// # Safety
/// `a` was built by `run_kernel` for a `TernaryVecLutG4` layout under the
/// Float contract (f32 activations in `xpad`).
pub(super) unsafe extern "C" fn ternary_float(a: *const KernelArgs) {
    // SAFETY: forwarded.
    let a = unsafe { &*a };
    assert!(a.kc == 4 && a.bp % 4 == 0 && a.plane_out == 1);
    // SAFETY: forwarded.
    unsafe { float_spans(a, 4, float_entry) }
}

/// The Float kernels' sums: per token, row and scale group, from +0.0 the
/// sums of its spans, each from +0.0 over the span's index bytes (`cols`
/// columns each) in order of `entry(byte, its columns' activations)`.
///
/// # Safety
/// As the Float kernels: `a` was built by `run_kernel` (f32 activations
/// in `xpad`).
unsafe fn float_spans(a: &KernelArgs, cols: usize, entry: impl Fn(u8, &[f32]) -> f32) {
    assert!(a.span > 0 && a.span % cols == 0 && a.bp % a.span == 0);
    let kp = a.nb * a.bp;
    // SAFETY: run_kernel checked row_groups · w_stride weight bytes, n
    // strided tokens of kp f32 activations, and the output extent.
    let w = unsafe { std::slice::from_raw_parts(a.w, a.row_groups * a.w_stride) };
    let out = a.out.cast::<f32>();
    for t in 0..a.n {
        // SAFETY: as above.
        let x = unsafe { std::slice::from_raw_parts(a.xpad.add(t * a.xpad_stride), kp) };
        for r in 0..a.row_groups * a.mr {
            let wg = &w[r / a.mr * a.w_stride..];
            for b in 0..a.nb {
                let mut group = 0f32;
                for s0 in (b * a.bp..(b + 1) * a.bp).step_by(a.span) {
                    let mut span = 0f32;
                    for j in s0 / cols..(s0 + a.span) / cols {
                        span += entry(wg[j * a.mr + r % a.mr], &x[cols * j..cols * (j + 1)]);
                    }
                    group += span;
                }
                // SAFETY: (token t < n, row r, group b) is within the
                // output extent run_kernel checked.
                unsafe { *out.add(t * a.out_stride + r * a.nb + b) = group };
            }
        }
    }
}

/// Entry `p` of a group whose 4 activations are `xs`:
/// `(wa·x₀ + wb·x₁) + (wc·x₂ + wd·x₃)`, each product `−x`, `+0.0` or `x`.
fn float_entry(p: u8, xs: &[f32]) -> f32 {
    let term = |d: u8, x: f32| match d {
        0 => -x,
        1 => 0.0,
        _ => x,
    };
    let lo = term(p / 27, xs[0]) + term(p / 9 % 3, xs[1]);
    let hi = term(p / 3 % 3, xs[2]) + term(p % 3, xs[3]);
    lo + hi
}

/// Fast contract on the same bytes: per token and span, the span's
/// entries ([`float_entry`], 81 a group) re-quantized to int8 with one
/// scale ([`requantize_spans`], as every Fast table); per row the int8
/// entries its index bytes select summed exactly, and the scale group's sum
/// from +0.0 of `f32(sum) · scale` per span in order. This defines the
/// bits of every SIMD Fast vector-LUT (`kernels/veclut_float.h`).
///
/// # Safety
/// `a` was built by `run_kernel` for a `TernaryVecLutG4` layout under the
/// Fast contract (f32 activations in `xpad`).
pub(super) unsafe extern "C" fn ternary_fast(a: *const KernelArgs) {
    // SAFETY: forwarded.
    let a = unsafe { &*a };
    assert!(a.kc == 4 && a.bp % 4 == 0 && a.plane_out == 1);
    assert!(a.span > 0 && a.span % 4 == 0 && a.bp % a.span == 0 && a.span <= 64);
    let kp = a.nb * a.bp;
    let rows = a.row_groups * a.mr;
    assert!(a.scratch_bytes >= veclut_f32_scratch_bytes(rows, a.nb));
    let per_span = a.span / 4 * PATTERNS;
    // SAFETY: as span_entries asks (16 groups of 81 entries at most).
    let (entries, t8) = unsafe { span_entries(a, per_span) };
    // SAFETY: run_kernel checked row_groups · w_stride weight bytes, n
    // strided tokens of kp f32 activations, and the output extent.
    let w = unsafe { std::slice::from_raw_parts(a.w, a.row_groups * a.w_stride) };
    let out = a.out.cast::<f32>();
    let mut scale = [0f32];
    for t in 0..a.n {
        // SAFETY: as above.
        let x = unsafe { std::slice::from_raw_parts(a.xpad.add(t * a.xpad_stride), kp) };
        for s0 in (0..kp).step_by(a.span) {
            let j0 = s0 / 4;
            for (j, e) in entries.chunks_exact_mut(PATTERNS).enumerate() {
                for (p, e) in e.iter_mut().enumerate() {
                    *e = float_entry(p as u8, &x[4 * (j0 + j)..][..4]);
                }
            }
            requantize_spans(entries, per_span, t8, &mut scale);
            let (b, first) = (s0 / a.bp, s0 % a.bp == 0);
            for r in 0..rows {
                let wg = &w[r / a.mr * a.w_stride..];
                let mut sum = 0i32;
                for (j, e) in t8.chunks_exact(PATTERNS).enumerate() {
                    sum += e[wg[(j0 + j) * a.mr + r % a.mr] as usize] as i32;
                }
                // SAFETY: (token t < n, row r, group b) is within the
                // output extent run_kernel checked; a group's spans come
                // in order, its first one writing.
                unsafe {
                    let o = out.add(t * a.out_stride + r * a.nb + b);
                    *o = if first { 0.0 } else { *o } + sum as f32 * scale[0];
                }
            }
        }
    }
}

/// A Fast span's `per_span` f32 entries and as many int8 ones, in the
/// call's scratch.
///
/// # Safety
/// `run_kernel` checked the scratch: 64-byte aligned and at least
/// `veclut_f32_scratch_bytes(rows, nb)` bytes, which hold 16 · 81 f32
/// entries and as many int8 ones; `per_span` is at most that.
unsafe fn span_entries<'a>(a: &KernelArgs, per_span: usize) -> (&'a mut [f32], &'a mut [i8]) {
    assert!(per_span <= 16 * PATTERNS);
    // SAFETY: as the caller promises; the two parts do not overlap.
    unsafe {
        let s = a.scratch;
        (
            std::slice::from_raw_parts_mut(s.cast::<f32>(), per_span),
            std::slice::from_raw_parts_mut(s.add(4 * per_span).cast::<i8>(), per_span),
        )
    }
}

/// Integer weights ([`Layout::IntVecLut`]): `(columns a byte, field bits,
/// field mask, table rows a nibble's codes reach)`: 8/f columns in fields
/// of f bits (f = bits, 4 for 3-bit codes, which reach 8 of 16 rows).
///
/// [`Layout::IntVecLut`]: crate::layout::Layout::IntVecLut
fn int_fields(bits: usize) -> (usize, usize, u8, u8) {
    let f = if bits == 3 { 4 } else { bits };
    (8 / f, f, (1u8 << f) - 1, if bits == 3 { 8 } else { 16 })
}

/// Row `u` of a nibble's table over its `4 / f` activations `xs`:
/// `Σ_c f32(field_c(u)) · x_c` summed pairwise (`(t₀ + t₁) + (t₂ + t₃)`,
/// `t₀ + t₁` or `t₀`), and `+0.0` for rows no code reaches (`u ≥ valid`).
fn int_entry(u: u8, xs: &[f32], f: usize, mask: u8, valid: u8) -> f32 {
    if u >= valid {
        return 0.0;
    }
    let t = |c: usize| ((u >> (f * c)) & mask) as f32 * xs[c];
    match xs.len() {
        4 => (t(0) + t(1)) + (t(2) + t(3)),
        2 => t(0) + t(1),
        _ => t(0),
    }
}

/// Float contract on [`Layout::IntVecLut`] bytes: per token, row and scale
/// group, the group's sum from +0.0 of its spans' sums, each from +0.0 over
/// the span's index bytes in order of the byte's entry `e_lo + e_hi`, its
/// nibbles' rows ([`int_entry`] over the low and the high half of the
/// byte's columns). The code sums `Σ code · x` leave the kernel; the
/// epilogue applies scales and offsets. This defines the bits of every SIMD
/// integer Float vector-LUT (`kernels/veclut_float.h`).
///
/// # Safety
/// `a` was built by `run_kernel` for an `IntVecLut` layout under the Float
/// contract (f32 activations in `xpad`).
///
/// [`Layout::IntVecLut`]: crate::layout::Layout::IntVecLut
pub(super) unsafe extern "C" fn int_float(a: *const KernelArgs) {
    // SAFETY: forwarded.
    let a = unsafe { &*a };
    let (cols, f, mask, valid) = int_fields(a.bits);
    assert!(a.kc == 8 && a.plane_out == 1 && (1..=4).contains(&a.bits));
    let half = cols / 2;
    let entry = |byte: u8, xs: &[f32]| {
        let lo = int_entry(byte & 15, &xs[..half], f, mask, valid);
        let hi = int_entry(byte >> 4, &xs[half..], f, mask, valid);
        lo + hi
    };
    // SAFETY: forwarded.
    unsafe { float_spans(a, cols, entry) }
}

/// Fast contract on [`Layout::IntVecLut`] bytes: per token and span, the
/// span's table rows (16 per nibble of each index byte, [`int_entry`])
/// re-quantized to int8 with one scale ([`requantize_spans`], as every Fast
/// table); per row the int8 rows its nibbles select summed exactly, and
/// the scale group's code sum from +0.0 of `f32(sum) · scale` per span in
/// order. This defines the bits of every SIMD integer Fast vector-LUT
/// (`kernels/veclut_float.h`).
///
/// # Safety
/// `a` was built by `run_kernel` for an `IntVecLut` layout under the Fast
/// contract (f32 activations in `xpad`).
///
/// [`Layout::IntVecLut`]: crate::layout::Layout::IntVecLut
pub(super) unsafe extern "C" fn int_fast(a: *const KernelArgs) {
    // SAFETY: forwarded.
    let a = unsafe { &*a };
    let (cols, f, mask, valid) = int_fields(a.bits);
    assert!(a.kc == 8 && a.plane_out == 1 && (1..=4).contains(&a.bits));
    assert!(a.span > 0 && a.span % cols == 0 && a.bp % a.span == 0 && a.span <= 64);
    let kp = a.nb * a.bp;
    let rows = a.row_groups * a.mr;
    assert!(a.scratch_bytes >= veclut_f32_scratch_bytes(rows, a.nb));
    let per_span = a.span / cols * 32;
    // SAFETY: as span_entries asks (32 bytes of 32 rows at most).
    let (entries, t8) = unsafe { span_entries(a, per_span) };
    // SAFETY: run_kernel checked row_groups · w_stride weight bytes, n
    // strided tokens of kp f32 activations, and the output extent.
    let w = unsafe { std::slice::from_raw_parts(a.w, a.row_groups * a.w_stride) };
    let out = a.out.cast::<f32>();
    let half = cols / 2;
    let mut scale = [0f32];
    for t in 0..a.n {
        // SAFETY: as above.
        let x = unsafe { std::slice::from_raw_parts(a.xpad.add(t * a.xpad_stride), kp) };
        for s0 in (0..kp).step_by(a.span) {
            let j0 = s0 / cols;
            for (j, e) in entries.chunks_exact_mut(32).enumerate() {
                let xs = &x[cols * (j0 + j)..][..cols];
                for (u, e) in e.iter_mut().enumerate() {
                    let part = if u < 16 { &xs[..half] } else { &xs[half..] };
                    *e = int_entry(u as u8 % 16, part, f, mask, valid);
                }
            }
            requantize_spans(entries, per_span, t8, &mut scale);
            let (b, first) = (s0 / a.bp, s0 % a.bp == 0);
            for r in 0..rows {
                let wg = &w[r / a.mr * a.w_stride..];
                let mut sum = 0i32;
                for (j, e) in t8.chunks_exact(32).enumerate() {
                    let byte = wg[(j0 + j) * a.mr + r % a.mr];
                    sum += e[(byte & 15) as usize] as i32 + e[16 + (byte >> 4) as usize] as i32;
                }
                // SAFETY: (token t < n, row r, group b) is within the
                // output extent run_kernel checked; a group's spans come
                // in order, its first one writing.
                unsafe {
                    let o = out.add(t * a.out_stride + r * a.nb + b);
                    *o = if first { 0.0 } else { *o } + sum as f32 * scale[0];
                }
            }
        }
    }
}
