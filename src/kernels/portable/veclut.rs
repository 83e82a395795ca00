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
use crate::layout::{VECLUT_KBLOCK as KB, VECLUT_TOKENS as NT, veclut_scratch_bytes};

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
