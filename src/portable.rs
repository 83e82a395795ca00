//! Portable Rust kernels: the same table and multiply-add algorithms as the
//! SIMD kernels, over the same layouts, with the same exact integer results.
//! They run on every target (and are all that the `pure` feature builds),
//! and serve as the second oracle for the SIMD kernels' integer sums.

use crate::isa::Isa;
use crate::kernels::{KernelArgs, KernelDesc, KernelFamily};
use crate::lut::{LUT2_GROUP_BYTES, LUT4_GROUP_BYTES, entry};
use crate::pack::Layout;

/// Largest `mr` the portable kernels accept (their accumulators live on the
/// stack).
const MAX_MR: usize = 64;

/// Portable layouts: the same as the AVX2 kernels', so one packed matrix
/// serves both and the portable kernel can check the SIMD one on one input.
pub(crate) const KERNELS: &[KernelDesc] = &[
    KernelDesc {
        name: "mad_scalar",
        family: KernelFamily::MultiplyAdd,
        isa: Isa::Scalar,
        layout: Layout::Mad { mr: 8, kc: 128 },
        run: run_mad,
        build_tables: None,
    },
    KernelDesc {
        name: "lut2_scalar",
        family: KernelFamily::Lut2,
        isa: Isa::Scalar,
        layout: Layout::Lut2 { mr: 32, kc: 4 },
        run: run_lut2,
        build_tables: None,
    },
    KernelDesc {
        name: "lut4_scalar",
        family: KernelFamily::Lut4,
        isa: Isa::Scalar,
        layout: Layout::Lut4 { mr: 64, kc: 4 },
        run: run_lut4,
        build_tables: None,
    },
];

/// The portable kernel that reads `layout` (any `mr ≤ 64`, any `kc`).
pub(crate) fn kernel_for(layout: Layout) -> &'static KernelDesc {
    let family = match layout {
        Layout::Mad { .. } => KernelFamily::MultiplyAdd,
        Layout::Lut2 { .. } => KernelFamily::Lut2,
        Layout::Lut4 { .. } => KernelFamily::Lut4,
    };
    KERNELS
        .iter()
        .find(|k| k.family == family)
        .expect("one portable kernel per family")
}

/// Views of the arguments as slices. Safety: as [`KernelDesc::run`].
struct Views<'a> {
    w: &'a [u8],
    qpad: &'a [i8],
    out: &'a mut [i32],
    mr: usize,
    group_bytes: usize,
}

unsafe fn views<'a>(a: &KernelArgs) -> Views<'a> {
    let mr = a.layout.mr();
    assert!(mr <= MAX_MR);
    let kp = a.nb * a.bp;
    let group_bytes = mr * kp / 4;
    // SAFETY: the caller guarantees these extents (gemm.rs checks them).
    unsafe {
        Views {
            w: std::slice::from_raw_parts(a.w, a.row_groups * group_bytes),
            qpad: std::slice::from_raw_parts(a.qpad, kp),
            out: std::slice::from_raw_parts_mut(a.out, a.row_groups * mr * a.nb),
            mr,
            group_bytes,
        }
    }
}

unsafe fn run_mad(a: &KernelArgs) {
    let Layout::Mad { kc, .. } = a.layout else {
        unreachable!("layout checked by the caller")
    };
    // SAFETY: forwarded contract.
    let v = unsafe { views(a) };
    // SAFETY: `qsum` holds `nb` sums (gemm.rs).
    let qsum = unsafe { std::slice::from_raw_parts(a.qsum, a.nb) };
    let q4 = kc / 4;
    let chunk_bytes = v.mr * q4;
    let chunks_per_block = a.bp / kc;
    for (g, group) in v.w.chunks_exact(v.group_bytes).enumerate() {
        for i in 0..v.mr {
            for (b, &qsum) in qsum.iter().enumerate() {
                let mut acc = 0i32;
                for ch in b * chunks_per_block..(b + 1) * chunks_per_block {
                    let bytes = &group[ch * chunk_bytes + i * q4..][..q4];
                    let x = &v.qpad[ch * kc..][..kc];
                    for (j, &byte) in bytes.iter().enumerate() {
                        for s in 0..4 {
                            let u = ((byte >> (2 * s)) & 3) as i32;
                            acc += u * x[j + s * q4] as i32;
                        }
                    }
                }
                v.out[(g * v.mr + i) * a.nb + b] = acc - qsum;
            }
        }
    }
}

unsafe fn run_lut2(a: &KernelArgs) {
    // SAFETY: forwarded contract.
    let v = unsafe { views(a) };
    let kp = a.nb * a.bp;
    // SAFETY: tables hold kp/2 groups (gemm.rs).
    let tables = unsafe { std::slice::from_raw_parts(a.tables, kp / 2 * LUT2_GROUP_BYTES) };
    let decode = |j: usize| -> [i16; 16] {
        let t = &tables[j * LUT2_GROUP_BYTES..][..LUT2_GROUP_BYTES];
        std::array::from_fn(|e| entry(t[e], t[16 + e]))
    };
    let pairs_per_block = a.bp / 4;
    for (g, group) in v.w.chunks_exact(v.group_bytes).enumerate() {
        for b in 0..a.nb {
            let mut acc = [0i32; MAX_MR];
            for p in b * pairs_per_block..(b + 1) * pairs_per_block {
                let (t0, t1) = (decode(2 * p), decode(2 * p + 1));
                for (acc, &byte) in acc.iter_mut().zip(&group[p * v.mr..][..v.mr]) {
                    *acc += t0[(byte & 15) as usize] as i32 + t1[(byte >> 4) as usize] as i32;
                }
            }
            for (i, &acc) in acc[..v.mr].iter().enumerate() {
                v.out[(g * v.mr + i) * a.nb + b] = acc;
            }
        }
    }
}

unsafe fn run_lut4(a: &KernelArgs) {
    // SAFETY: forwarded contract.
    let v = unsafe { views(a) };
    let kp = a.nb * a.bp;
    // SAFETY: tables hold kp/4 groups (gemm.rs).
    let tables = unsafe { std::slice::from_raw_parts(a.tables, kp / 4 * LUT4_GROUP_BYTES) };
    let groups_per_block = a.bp / 4;
    for (g, group) in v.w.chunks_exact(v.group_bytes).enumerate() {
        for b in 0..a.nb {
            let mut acc = [0i32; MAX_MR];
            for j in b * groups_per_block..(b + 1) * groups_per_block {
                let t = &tables[j * LUT4_GROUP_BYTES..][..LUT4_GROUP_BYTES];
                let t: [i16; 128] = std::array::from_fn(|e| entry(t[e], t[128 + e]));
                for (acc, &byte) in acc.iter_mut().zip(&group[j * v.mr..][..v.mr]) {
                    *acc += t[(byte & 127) as usize] as i32;
                }
            }
            for (i, &acc) in acc[..v.mr].iter().enumerate() {
                v.out[(g * v.mr + i) * a.nb + b] = acc;
            }
        }
    }
}
