//! Portable Rust kernels: the same table and multiply-add algorithms as the
//! SIMD kernels, over the same layouts (any `mr ≤ 64`), with the same exact
//! integer results. They run on every target (and are all that the `pure`
//! feature builds), and serve as the second oracle for the SIMD kernels.
//!
//! Table kernels share one driver ([`table_kernel`]): per token, row group
//! and scale group, per *span* of activations (the whole group for Exact,
//! ≤ 64 activations for Fast and Float), sum the looked-up entries per row
//! and bit plane, then finish the span by contract (Exact: the int32 sum;
//! Fast: `+= f32(sum) · span scale`; Float: `+= sum`, both in f32, spans in
//! order).

mod mad;
mod mad5;
mod veclut;

use super::KernelDesc;
use super::abi::KernelArgs;
use crate::contract::Contract;
use crate::format::Format;
use crate::layout::Layout;
use crate::lut::entry;

/// Largest `mr` the portable kernels accept (accumulators on the stack).
const MAX_MR: usize = 64;
/// Largest bit-plane count.
const MAX_PLANES: usize = 4;

use super::{INT_ALL, INT_AND_TERNARY, INT_MAD, INT2, INT12, TERNARY};

/// A portable descriptor (the layout's portable table builder).
macro_rules! portable {
    ($name:literal, $formats:expr, $contract:ident, $layout:expr, $run:path) => {
        kernel!($name, Scalar, $formats, $contract, $layout, $run, None)
    };
}

/// Portable layouts: the AVX2 kernels' where one exists (so one packed
/// matrix serves both and the portable kernel checks the SIMD one on one
/// input). Every kernel here reads any `mr ≤ 64`.
#[rustfmt::skip]
pub(crate) const KERNELS: &[KernelDesc] = &[
    portable!("mad_scalar", TERNARY, Exact, Layout::TernaryMad { mr: 8, kc: 128 },
              mad::ternary),
    portable!("mad5_scalar", TERNARY, Exact, Layout::TernaryMad5 { mr: 32 },
              mad5::ternary5),
    portable!("lut_g2_scalar", TERNARY, Exact, Layout::TernaryLutG2 { mr: 32, kc: 4 },
              lut_g2::<Exact>),
    portable!("lut_g2_fast_scalar", TERNARY, Fast, Layout::TernaryLutG2 { mr: 32, kc: 4 },
              lut_g2::<Fast>),
    portable!("lut_g2_float_scalar", TERNARY, Float, Layout::TernaryLutG2 { mr: 32, kc: 4 },
              lut_g2::<Float>),
    portable!("lut_g4_scalar", TERNARY, Exact, Layout::TernaryLutG4 { mr: 64, kc: 4 },
              lut_g4::<Exact>),
    portable!("lut_g4_fast_scalar", TERNARY, Fast, Layout::TernaryLutG4 { mr: 64, kc: 4 },
              lut_g4::<Fast>),
    portable!("lut_g4_float_scalar", TERNARY, Float, Layout::TernaryLutG4 { mr: 64, kc: 4 },
              lut_g4::<Float>),
    portable!("veclut_g4_scalar", TERNARY, Exact, Layout::TernaryVecLutG4 { mr: 64 },
              veclut::ternary),
    portable!("veclut_g4_float_scalar", TERNARY, Float, Layout::TernaryVecLutG4 { mr: 64 },
              veclut::ternary_float),
    portable!("veclut_g4_fast_scalar", TERNARY, Fast, Layout::TernaryVecLutG4 { mr: 64 },
              veclut::ternary_fast),
    portable!("mad_int_scalar", INT_MAD, Exact, Layout::IntMad { mr: 16 },
              mad::int),
    portable!("veclut_int_scalar", INT_ALL, Exact, Layout::IntVecLut { mr: 64 },
              mad::int_veclut),
    portable!("veclut_int_float_scalar", INT_ALL, Float, Layout::IntVecLut { mr: 64 },
              veclut::int_float),
    portable!("veclut_int_fast_scalar", INT12, Fast, Layout::IntVecLut { mr: 64 },
              veclut::int_fast),
    portable!("mad_int_fr_scalar", INT2, Exact, Layout::MadFieldRows { mr: 64 },
              mad::int_field_rows),
    portable!("mad_fr_scalar", TERNARY, Exact, Layout::MadFieldRows { mr: 64 },
              mad::ternary_field_rows),
    portable!("bitlut_g4_scalar", INT_ALL, Exact, Layout::IntBitLutG4 { mr: 32 },
              bitlut_g4::<Exact>),
    portable!("bitlut_g4_fast_scalar", INT_AND_TERNARY, Fast, Layout::IntBitLutG4 { mr: 32 },
              bitlut_g4::<Fast>),
    portable!("bitlut_g4_float_scalar", INT_AND_TERNARY, Float, Layout::IntBitLutG4 { mr: 32 },
              bitlut_g4::<Float>),
];

/// The portable kernel that reads `layout` under `contract` for `format`
/// (any `mr ≤ 64`): the one `Context::set_isa(Some(Isa::Scalar))` runs.
pub(crate) fn kernel_for(
    layout: Layout,
    format: Format,
    contract: Contract,
) -> &'static KernelDesc {
    KERNELS
        .iter()
        .find(|k| {
            std::mem::discriminant(&k.layout) == std::mem::discriminant(&layout)
                && k.contract == contract
                && k.supports(format)
        })
        .expect("one portable kernel per (layout, contract)")
}

/// How a contract reads table entries and finishes a span.
trait ContractKind {
    /// Accumulator: i32 for integer tables, f32 for Float.
    type Acc: Copy + Default + std::ops::AddAssign + std::ops::Mul<Output = Self::Acc>;
    /// Whether spans are scaled (Fast).
    const SCALED: bool;
    /// Table bytes per table group of `entries` entries.
    fn group_bytes(entries: usize) -> usize;
    /// Entry `e` of table group `j` of one token's tables.
    fn entry(tables: &[u8], entries: usize, j: usize, e: usize) -> Self::Acc;
    /// `2^i` as an accumulator value.
    fn pow2(i: usize) -> Self::Acc;
    /// Folds a finished span's sum into the output slot.
    fn finish(out: *mut u8, index: usize, first: bool, sum: Self::Acc, scale: f32);
}

struct Exact;
struct Fast;
struct Float;

impl ContractKind for Exact {
    const SCALED: bool = false;
    fn group_bytes(entries: usize) -> usize {
        2 * entries
    }
    type Acc = i32;
    #[inline(always)]
    fn entry(t: &[u8], entries: usize, j: usize, e: usize) -> i32 {
        let g = &t[2 * entries * j..];
        entry(g[e], g[entries + e]) as i32
    }
    fn pow2(i: usize) -> i32 {
        1 << i
    }
    fn finish(out: *mut u8, index: usize, first: bool, sum: i32, _scale: f32) {
        // SAFETY: index is within the output extent (checked by run_kernel;
        // see `out_index`).
        unsafe {
            let p = out.cast::<i32>().add(index);
            *p = if first { sum } else { *p + sum };
        }
    }
}

impl ContractKind for Fast {
    const SCALED: bool = true;
    fn group_bytes(entries: usize) -> usize {
        entries
    }
    type Acc = i32;
    #[inline(always)]
    fn entry(t: &[u8], entries: usize, j: usize, e: usize) -> i32 {
        t[entries * j + e] as i8 as i32
    }
    fn pow2(i: usize) -> i32 {
        1 << i
    }
    fn finish(out: *mut u8, index: usize, first: bool, sum: i32, scale: f32) {
        // SAFETY: as for Exact.
        unsafe {
            let p = out.cast::<f32>().add(index);
            let v = sum as f32 * scale;
            *p = if first { v } else { *p + v };
        }
    }
}

impl ContractKind for Float {
    const SCALED: bool = false;
    fn group_bytes(entries: usize) -> usize {
        4 * entries
    }
    type Acc = f32;
    #[inline(always)]
    fn entry(t: &[u8], entries: usize, j: usize, e: usize) -> f32 {
        let b = &t[4 * (entries * j + e)..][..4];
        f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }
    fn pow2(i: usize) -> f32 {
        (1u32 << i) as f32
    }
    fn finish(out: *mut u8, index: usize, first: bool, sum: f32, _scale: f32) {
        // SAFETY: as for Exact.
        unsafe {
            let p = out.cast::<f32>().add(index);
            *p = if first { sum } else { *p + sum };
        }
    }
}

/// Slices of a kernel call, from arguments `run_kernel` checked.
struct Call<'a> {
    a: &'a KernelArgs,
    kp: usize,
    group_bytes: usize,
}

impl<'a> Call<'a> {
    /// # Safety
    /// `a` was built by `run_kernel`.
    unsafe fn new(a: *const KernelArgs) -> Call<'a> {
        // SAFETY: forwarded.
        let a = unsafe { &*a };
        assert!(a.mr <= MAX_MR && a.bits <= MAX_PLANES);
        Call {
            a,
            kp: a.nb * a.bp,
            group_bytes: a.w_stride,
        }
    }
    /// Row group `g`'s packed bytes.
    fn weights(&self, g: usize) -> &'a [u8] {
        // SAFETY: run_kernel checked row_groups · w_stride bytes.
        unsafe { std::slice::from_raw_parts(self.a.w.add(g * self.a.w_stride), self.group_bytes) }
    }
    /// Token `t`'s tables, `len` bytes.
    fn tables(&self, t: usize, len: usize) -> &'a [u8] {
        // SAFETY: run_kernel checked n strided tables of this length.
        unsafe { std::slice::from_raw_parts(self.a.tables.add(t * self.a.tables_stride), len) }
    }
    /// Token `t`'s span scales (Fast).
    fn tscale(&self, t: usize) -> &'a [f32] {
        // SAFETY: run_kernel checked them for the Fast contract.
        unsafe {
            std::slice::from_raw_parts(
                self.a.tscale.add(t * self.a.tscale_stride),
                self.kp / self.a.span,
            )
        }
    }
    /// Token `t`'s padded activations.
    fn qpad(&self, t: usize) -> &'a [i8] {
        // SAFETY: run_kernel checked them for layouts that read them.
        unsafe { std::slice::from_raw_parts(self.a.qpad.add(t * self.a.qpad_stride), self.kp) }
    }
    /// Token `t`'s group sums.
    fn qsum(&self, t: usize) -> &'a [i32] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(self.a.qsum.add(t * self.a.qsum_stride), self.a.nb) }
    }
    /// Output index of (token, row in call, group, plane).
    fn out_index(&self, t: usize, r: usize, b: usize, p: usize) -> usize {
        t * self.a.out_stride + (r * self.a.nb + b) * self.a.plane_out + p
    }
}

/// The table-kernel driver. `step` is the activations one step of the
/// layout covers, `table_groups_per_step` its table groups, `entries` the
/// entries per table, and `lookups(weights, mr, step, row, visit)` calls
/// `visit(plane, table group within the step, entry)` for every lookup of
/// one row in one step.
///
/// # Safety
/// `a` was built by `run_kernel` for a table layout of this shape.
unsafe fn table_kernel<C: ContractKind>(
    a: *const KernelArgs,
    step: usize,
    table_groups_per_step: usize,
    entries: usize,
    lookups: impl Fn(&[u8], usize, usize, usize, &mut dyn FnMut(usize, usize, usize)),
) {
    // SAFETY: forwarded.
    let c = unsafe { Call::new(a) };
    let a = c.a;
    let (mr, nb, bp, span) = (a.mr, a.nb, a.bp, a.span);
    let planes = if a.plane_out == 1 { 1 } else { a.bits };
    let table_len = c.kp / step * table_groups_per_step * C::group_bytes(entries);
    for t in 0..a.n {
        let tables = c.tables(t, table_len);
        let tscale: &[f32] = if C::SCALED { c.tscale(t) } else { &[] };
        for g in 0..a.row_groups {
            let wg = c.weights(g);
            for b in 0..nb {
                for (si, s0) in (b * bp..(b + 1) * bp).step_by(span).enumerate() {
                    let mut acc = [[C::Acc::default(); MAX_MR]; MAX_PLANES];
                    for st in s0 / step..(s0 + span) / step {
                        #[allow(clippy::needless_range_loop)] // `acc` is indexed by plane too
                        for i in 0..mr {
                            lookups(wg, mr, st, i, &mut |p, tg, e| {
                                let v =
                                    C::entry(tables, entries, st * table_groups_per_step + tg, e);
                                let p_out = if planes == 1 { 0 } else { p };
                                let v = if planes == 1 { v * C::pow2(p) } else { v };
                                acc[p_out][i] += v;
                            });
                        }
                    }
                    let scale = tscale.get(s0 / span).copied().unwrap_or(1.0);
                    for (p, acc) in acc.iter().enumerate().take(planes) {
                        for (i, &v) in acc.iter().enumerate().take(mr) {
                            let idx = c.out_index(t, g * mr + i, b, p);
                            C::finish(a.out, idx, si == 0, v, scale);
                        }
                    }
                }
            }
        }
    }
}

unsafe extern "C" fn lut_g2<C: ContractKind>(a: *const KernelArgs) {
    // Step: 4 activations = one byte per row, two 9-entry tables.
    // SAFETY: forwarded.
    unsafe {
        table_kernel::<C>(a, 4, 2, 16, |w, mr, st, i, visit| {
            let byte = w[st * mr + i];
            visit(0, 0, (byte & 15) as usize);
            visit(0, 1, (byte >> 4) as usize);
        })
    }
}

unsafe extern "C" fn lut_g4<C: ContractKind>(a: *const KernelArgs) {
    // Step: 4 activations = one byte per row, one 81-entry table.
    // SAFETY: forwarded.
    unsafe {
        table_kernel::<C>(a, 4, 1, 128, |w, mr, st, i, visit| {
            visit(0, 0, (w[st * mr + i] & 127) as usize);
        })
    }
}

unsafe extern "C" fn bitlut_g4<C: ContractKind>(a: *const KernelArgs) {
    // SAFETY: `a` is valid (forwarded contract).
    let bits = unsafe { (*a).bits };
    // Step: 8 activations; per plane one byte per row, two 16-entry tables.
    // SAFETY: forwarded.
    unsafe {
        table_kernel::<C>(a, 8, 2, 16, |w, mr, st, i, visit| {
            for p in 0..bits {
                let byte = w[(st * bits + p) * mr + i];
                visit(p, 0, (byte & 15) as usize);
                visit(p, 1, (byte >> 4) as usize);
            }
        })
    }
}
