//! Portable kernel of `Layout::TernaryMad5` (Exact contract): decode each
//! byte's five codes by table and multiply-accumulate in int32, the oracle
//! of the SIMD `mad5` kernels on the same bytes.

use super::Call;
use crate::kernels::abi::KernelArgs;
use crate::layout::trit5::{DECODE, STEP};

/// `Σ q·code = Σ q·(code + 1) − Σ q` per (token, row, group).
pub(super) unsafe extern "C" fn ternary5(a: *const KernelArgs) {
    // SAFETY: forwarded contract of KernelFn.
    let c = unsafe { Call::new(a) };
    let a = c.a;
    let (mr, bp) = (a.mr, a.bp);
    let step_bytes = 4 * mr;
    let steps_per_block = bp / STEP;
    for t in 0..a.n {
        let (x, qsum) = (c.qpad(t), c.qsum(t));
        for g in 0..a.row_groups {
            let wg = c.weights(g);
            for (b, &qs) in qsum.iter().enumerate() {
                let mut acc = [0i32; super::MAX_MR];
                for s in b * steps_per_block..(b + 1) * steps_per_block {
                    let step = &wg[s * step_bytes..][..step_bytes];
                    let xs = &x[s * STEP..][..STEP];
                    for (r, acc) in acc.iter_mut().enumerate().take(mr) {
                        for j in 0..4 {
                            for (i, &code) in DECODE[step[4 * r + j] as usize].iter().enumerate() {
                                *acc += code as i32 * xs[4 * i + j] as i32;
                            }
                        }
                    }
                }
                for (r, &v) in acc.iter().enumerate().take(mr) {
                    let idx = c.out_index(t, g * mr + r, b, 0);
                    // SAFETY: idx is within the checked output extent.
                    unsafe { *a.out.cast::<i32>().add(idx) = v - qs };
                }
            }
        }
    }
}
