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
    assert!(a.span > 0 && a.span % 4 == 0 && a.bp % a.span == 0);
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
                    for j in s0 / 4..(s0 + a.span) / 4 {
                        span += float_entry(wg[j * a.mr + r % a.mr], &x[4 * j..4 * j + 4]);
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
    // SAFETY: run_kernel checked the scratch (64-byte aligned, at least
    // veclut_f32_scratch_bytes(rows, nb) bytes, which holds a span's f32
    // entries and its int8 entries: 16 · 81 of each at most).
    let (entries, t8) = unsafe {
        let s = a.scratch;
        (
            std::slice::from_raw_parts_mut(s.cast::<f32>(), per_span),
            std::slice::from_raw_parts_mut(s.add(4 * per_span).cast::<i8>(), per_span),
        )
    };
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
