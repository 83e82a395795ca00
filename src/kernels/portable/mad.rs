//! Portable multiply-add kernels (Exact contract): decode the codes and
//! multiply-accumulate in int32, on the same layouts as the SIMD kernels.

use super::Call;
use crate::kernels::abi::KernelArgs;

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
/// 64 bytes; lane `4r..4r+4` is row r × 4 columns per field).
pub(super) unsafe extern "C" fn int(a: *const KernelArgs) {
    // SAFETY: forwarded contract of KernelFn.
    let c = unsafe { Call::new(a) };
    let a = c.a;
    let (mr, kc, nb, bp, bits) = (a.mr, a.kc, a.nb, a.bp, a.bits);
    let fields = 8 / bits;
    let mask = (1u8 << bits) - 1;
    let step_bytes = mr * kc * bits / 8;
    let steps_per_block = bp / kc;
    for t in 0..a.n {
        let x = c.qpad(t);
        for g in 0..a.row_groups {
            let wg = c.weights(g);
            for b in 0..nb {
                let mut acc = [0i32; super::MAX_MR];
                for s in b * steps_per_block..(b + 1) * steps_per_block {
                    let step = &wg[s * step_bytes..][..step_bytes];
                    let xs = &x[s * kc..][..kc];
                    for (r, acc) in acc.iter_mut().enumerate().take(mr) {
                        for j in 0..4 {
                            let byte = step[4 * r + j];
                            for f in 0..fields {
                                let q = (byte >> (bits * f)) & mask;
                                *acc += q as i32 * xs[4 * f + j] as i32;
                            }
                        }
                    }
                }
                for (r, &v) in acc.iter().enumerate().take(mr) {
                    let idx = c.out_index(t, g * mr + r, b, 0);
                    // SAFETY: idx is within the checked output extent.
                    unsafe { *a.out.cast::<i32>().add(idx) = v };
                }
            }
        }
    }
}
