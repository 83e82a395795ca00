//! Portable multiply-add kernels (Exact contract): decode the codes and
//! multiply-accumulate in int32, on the same layouts as the SIMD kernels.

use super::Call;
use crate::kernels::abi::{self, KernelArgs};
use half::f16;

/// Ternary: `Layout::TernaryMad` (codes stored as `code + 1`), so
/// `Σ q·code = Σ q·(code + 1) − Σ q`.
pub(super) unsafe extern "C" fn ternary(a: *const KernelArgs) {
    // SAFETY: forwarded contract of KernelFn.
    let c = unsafe { Call::new(a) };
    let a = c.a;
    let (mr, kc, bp) = (a.mr, a.kc, a.bp);
    let q4 = kc / 4;
    let chunk_bytes = mr * q4;
    let chunks_per_block = bp / kc;
    for t in 0..a.n {
        let (x, qsum) = (c.qpad(t), c.qsum(t));
        for g in 0..a.row_groups {
            let wg = c.weights(g);
            for i in 0..mr {
                for (b, &qs) in qsum.iter().enumerate() {
                    let mut acc = 0i32;
                    for ch in b * chunks_per_block..(b + 1) * chunks_per_block {
                        let bytes = &wg[ch * chunk_bytes + i * q4..][..q4];
                        let xc = &x[ch * kc..][..kc];
                        for (j, &byte) in bytes.iter().enumerate() {
                            for s in 0..4 {
                                let u = ((byte >> (2 * s)) & 3) as i32;
                                acc += u * xc[j + s * q4] as i32;
                            }
                        }
                    }
                    let idx = c.out_index(t, g * mr + i, b, 0);
                    // SAFETY: idx is within the checked output extent.
                    unsafe { *a.out.cast::<i32>().add(idx) = acc - qs };
                }
            }
        }
    }
}

/// b-bit integers, b ∈ {2, 4}: `Layout::IntMad` (row-interleaved steps of
/// 64 bytes; lane `4r..4r+4` is row r × 4 columns per field). Writes the
/// int32 group sums, or with fused group scaling (`a.fuse`) one f32 per
/// (token, row): [`int_steps`] *defines* the fused order every SIMD kernel
/// reproduces bit for bit.
pub(super) unsafe extern "C" fn int(a: *const KernelArgs) {
    // SAFETY: forwarded contract of KernelFn.
    unsafe {
        int_steps(a, 0, |a, step, xs, acc| {
            let (bits, fields) = (a.bits, 8 / a.bits);
            let mask = (1u8 << bits) - 1;
            for (r, acc) in acc.iter_mut().enumerate().take(a.mr) {
                for j in 0..4 {
                    let byte = step[4 * r + j];
                    for f in 0..fields {
                        let q = (byte >> (bits * f)) & mask;
                        *acc += q as i32 * xs[4 * f + j] as i32;
                    }
                }
            }
        })
    }
}

/// b-bit integers on `Layout::IntVecLut` (per index group of `8 / f`
/// columns, one byte a row holding the codes in fields of `f` bits), with
/// the outputs and fused order of [`int`]. The SIMD kernels' table rows
/// hold exactly these sums of code × activation, so decoding the bytes
/// directly checks their tables, int16 flushes and fused scaling.
pub(super) unsafe extern "C" fn int_veclut(a: *const KernelArgs) {
    // SAFETY: forwarded contract of KernelFn.
    unsafe {
        int_steps(a, 0, |a, step, xs, acc| {
            let f = if a.bits == 3 { 4 } else { a.bits };
            let (cols, mask) = (8 / f, (1u8 << f) - 1);
            for (j, bytes) in step.chunks_exact(a.mr).enumerate() {
                for (acc, &byte) in acc.iter_mut().zip(bytes) {
                    for c in 0..cols {
                        let q = (byte >> (f * c)) & mask;
                        *acc += q as i32 * xs[cols * j + c] as i32;
                    }
                }
            }
        })
    }
}

/// 2-bit integers, `Layout::MadFieldRows` (steps of 4 columns; bits
/// `2f..2f+2` of byte `4j + c` are row `(mr/4)·f + j`, column c), with the
/// outputs and fused order of [`int`].
pub(super) unsafe extern "C" fn int_field_rows(a: *const KernelArgs) {
    // SAFETY: forwarded contract of KernelFn.
    unsafe { int_steps(a, 0, field_rows_step) }
}

/// Ternary weights on `Layout::MadFieldRows` (codes `w + 1`): the int32
/// group sums `Σ (w + 1)·q − Σ q`.
pub(super) unsafe extern "C" fn ternary_field_rows(a: *const KernelArgs) {
    // SAFETY: forwarded contract of KernelFn.
    unsafe { int_steps(a, 1, field_rows_step) }
}

/// One step of `Layout::MadFieldRows` into the rows' sums.
fn field_rows_step(a: &KernelArgs, step: &[u8], xs: &[i8], acc: &mut [i32; super::MAX_MR]) {
    let lanes = a.mr / 4;
    for j in 0..lanes {
        for (c, &x) in xs.iter().enumerate() {
            let byte = step[4 * j + c];
            for f in 0..4 {
                let q = (byte >> (2 * f)) & 3;
                acc[lanes * f + j] += q as i32 * x as i32;
            }
        }
    }
}

/// The multiply-add integer kernels' driver: per token, row group and
/// scale group, `step_sums(a, step, xs, acc)` adds one step's products
/// (`step`: `mr · kc · bits / 8` bytes, `xs`: its `kc` activations) into
/// the rows' int32 sums `acc[r]`; codes stored as `weight + bias` (1 for
/// ternary) take `bias · qsum` off each sum (never fused). Writes the group
/// sums, or fused, one f32
/// per (token, row): this loop *defines* the fused order every SIMD
/// kernel reproduces bit for bit (`kernels/lutgemm_kernels.h`): per row,
/// groups in increasing order, `acc = fma(s, f32(isum), acc)` then
/// `acc = fma(o, f32(qsum), acc)`, from `acc = +0.0`; with a zero point
/// `z` instead of offsets, `acc = fma(s, f32(isum − z · qsum), acc)`.
///
/// # Safety
/// The contract of `KernelFn`.
unsafe fn int_steps(
    a: *const KernelArgs,
    bias: i32,
    step_sums: impl Fn(&KernelArgs, &[u8], &[i8], &mut [i32; super::MAX_MR]),
) {
    // SAFETY: forwarded contract of KernelFn.
    let c = unsafe { Call::new(a) };
    let a = c.a;
    let (mr, kc, nb, bp) = (a.mr, a.kc, a.nb, a.bp);
    // One step's bytes from the row group's (also where a code's field is
    // wider than its bits, Layout::IntVecLut's 3-bit codes).
    let step_bytes = a.w_stride * kc / (nb * bp);
    let steps_per_block = bp / kc;
    let fused = a.fuse & abi::FUSE != 0;
    assert!(bias == 0 || !fused);
    let scales = fused.then(|| GroupScales::of(a));
    for t in 0..a.n {
        let x = c.qpad(t);
        // Read (and checked by run_kernel) only with offsets or a zero
        // point.
        let qsum = if bias != 0
            || scales
                .as_ref()
                .is_some_and(|s| s.offsets || s.zero_point != 0)
        {
            c.qsum(t)
        } else {
            &[]
        };
        for g in 0..a.row_groups {
            let wg = c.weights(g);
            let mut facc = [0f32; super::MAX_MR];
            for b in 0..nb {
                let mut acc = [0i32; super::MAX_MR];
                for s in b * steps_per_block..(b + 1) * steps_per_block {
                    step_sums(
                        a,
                        &wg[s * step_bytes..][..step_bytes],
                        &x[s * kc..][..kc],
                        &mut acc,
                    );
                }
                match &scales {
                    Some(gs) => {
                        let qs = qsum.get(b).copied().unwrap_or(0);
                        for (r, (f, &v)) in facc.iter_mut().zip(&acc).enumerate().take(mr) {
                            *f = gs.apply(g, b, r, v, qs, *f);
                        }
                    }
                    None => {
                        let off = if bias != 0 { bias * qsum[b] } else { 0 };
                        for (r, &v) in acc.iter().enumerate().take(mr) {
                            let idx = c.out_index(t, g * mr + r, b, 0);
                            // SAFETY: idx is within the checked output extent.
                            unsafe { *a.out.cast::<i32>().add(idx) = v - off };
                        }
                    }
                }
            }
            if fused {
                for (r, &f) in facc.iter().enumerate().take(mr) {
                    // SAFETY: fused outputs are one per (token, row), within
                    // the checked extent.
                    unsafe { *a.out.cast::<f32>().add(t * a.out_stride + g * mr + r) = f };
                }
            }
        }
    }
}

/// A fused call's group scales (`lutgemm_kernels.h`): per row group, per
/// scale group, `mr` scales then (with offsets) `mr` offsets.
struct GroupScales {
    base: *const u8,
    stride: usize,
    per_group: usize,
    mr: usize,
    f16: bool,
    offsets: bool,
    /// The zero point `z` folded into the integer sums (0: none).
    zero_point: i32,
}

impl GroupScales {
    fn of(a: &KernelArgs) -> GroupScales {
        let f16 = a.fuse & abi::FUSE_F16 != 0;
        let offsets = a.fuse & abi::FUSE_OFFSETS != 0;
        let zero_point = if a.fuse & abi::FUSE_ZERO_POINT != 0 {
            1 << (a.bits - 1)
        } else {
            0
        };
        let elem = if f16 { 2 } else { 4 };
        GroupScales {
            base: a.gscale,
            stride: a.gscale_stride,
            per_group: a.mr * elem * if offsets { 2 } else { 1 },
            mr: a.mr,
            f16,
            offsets,
            zero_point,
        }
    }

    /// Element `i` of row group `g`'s scale group `b`.
    fn get(&self, g: usize, b: usize, i: usize) -> f32 {
        let at = g * self.stride + b * self.per_group;
        // SAFETY: run_kernel checked row_groups · stride bytes, and
        // stride = nb · per_group; i < 2 · mr with offsets, else < mr.
        unsafe {
            let p = self.base.add(at);
            if self.f16 {
                f16::from_bits(p.cast::<u16>().add(i).read_unaligned()).to_f32()
            } else {
                p.cast::<f32>().add(i).read_unaligned()
            }
        }
    }

    /// `acc` after scale group `b` of row `r` (row group `g`), whose
    /// integer sum is `isum` and activation sum `qsum`, in the fused order
    /// of `lutgemm_kernels.h`: `fma(s, f32(isum), acc)` then
    /// `fma(o, f32(qsum), acc)`, or with a zero point `z`,
    /// `fma(s, f32(isum − z · qsum), acc)` (exact: |z · qsum| ≤ 8 · 127 ·
    /// MAX_K).
    fn apply(&self, g: usize, b: usize, r: usize, isum: i32, qsum: i32, acc: f32) -> f32 {
        let s = self.get(g, b, r);
        if self.zero_point != 0 {
            return s.mul_add((isum - self.zero_point * qsum) as f32, acc);
        }
        let acc = s.mul_add(isum as f32, acc);
        if self.offsets {
            self.get(g, b, self.mr + r).mul_add(qsum as f32, acc)
        } else {
            acc
        }
    }
}
