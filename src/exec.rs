//! Execution of a [`Plan`] over a caller-provided workspace, in two phases
//! that a host may run from its own threads with a barrier between them:
//!
//! - [`prepare_tokens`]: activations of a token range → what the kernel
//!   reads (int8 or f32 padded activations, group sums, tables);
//! - [`compute_items`]: a range of work items (row tile × token tile) →
//!   kernel sums → epilogue → outputs.
//!
//! [`run_items`] runs either phase on `threads` workers (rayon, dynamic
//! claiming of items) or on the calling thread: one path for both. Every
//! output element depends only on its own item, so results are identical
//! for every thread count and split.

use crate::activation::{ActivationElem, quantize_token};
use crate::contract::Contract;
use crate::epilogue::{self, Sums};
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::kernels::{self, KernelCall, KernelOut};
use crate::lut;
use crate::packed::PackedWeights;
use crate::plan::{Plan, Region};
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The activations of a call.
pub(crate) enum Input<'a> {
    /// n × k float activations of any element type.
    Float(&'a dyn FloatTokens),
    /// Caller-quantized values (n × k, in [−127, 127]) and per-token
    /// factors (empty when only integer sums are wanted).
    Int8(&'a [i8], &'a [f32]),
}

/// Float activations, token by token.
pub(crate) trait FloatTokens: Sync {
    /// Quantizes token `t` into `q` (k values); returns `d`.
    fn quantize(&self, t: usize, k: usize, q: &mut [i8], isa: Isa) -> Result<f32>;
    /// Converts token `t` to f32 into `x` (k values), rejecting NaN/±Inf.
    fn to_f32(&self, t: usize, k: usize, x: &mut [f32]) -> Result<()>;
}

/// A slice of activations of one element type.
pub(crate) struct FloatSlice<'a, T>(pub &'a [T]);

impl<T: ActivationElem> FloatTokens for FloatSlice<'_, T> {
    fn quantize(&self, t: usize, k: usize, q: &mut [i8], isa: Isa) -> Result<f32> {
        quantize_token(&self.0[t * k..(t + 1) * k], q, t, isa)
    }
    fn to_f32(&self, t: usize, k: usize, x: &mut [f32]) -> Result<()> {
        T::to_f32_slice(&self.0[t * k..(t + 1) * k], x);
        match x.iter().position(|v| !v.is_finite()) {
            Some(index) => Err(Error::NonFinite { token: t, index }),
            None => Ok(()),
        }
    }
}

/// Where a call's results go.
#[derive(Clone, Copy)]
pub(crate) enum Sink {
    /// Token t's m outputs at `y + t · ldy`.
    Float { y: *mut f32, ldy: usize },
    /// n × m × nb × planes exact integer sums (Exact contract).
    Ints(*mut i32),
}
// SAFETY: items write disjoint (token, row) ranges of the sink (see
// `compute_items`), and the pointer outlives the call.
unsafe impl Send for Sink {}
// SAFETY: as above.
unsafe impl Sync for Sink {}

/// A workspace of `plan.workspace_bytes` bytes, 64-byte aligned. Prepare
/// writes each token's regions from one worker; compute reads them all and
/// writes only its worker slot.
#[derive(Clone, Copy)]
pub(crate) struct Workspace {
    base: *mut u8,
    len: usize,
}
// SAFETY: access is partitioned as documented on the type.
unsafe impl Send for Workspace {}
// SAFETY: as above.
unsafe impl Sync for Workspace {}

impl Workspace {
    /// Wraps `bytes` (64-byte aligned, at least `plan.workspace_bytes`).
    pub fn new(bytes: &mut [u8], plan: &Plan) -> Result<Workspace> {
        // SAFETY: a unique borrow of `len` bytes.
        unsafe { Workspace::from_raw(bytes.as_mut_ptr(), bytes.len(), plan) }
    }

    /// Wraps `len` bytes at `base`, which several host threads share (each
    /// touching only its own tokens and slot, as the type says).
    ///
    /// # Safety
    /// `base` is valid for reads and writes of `len` bytes for as long as
    /// the workspace is used, and only lutgemm calls of this plan use it.
    pub unsafe fn from_raw(base: *mut u8, len: usize, plan: &Plan) -> Result<Workspace> {
        if len < plan.workspace_bytes {
            return Err(Error::Shape(format!(
                "workspace of {len} bytes is smaller than the {} this call needs",
                plan.workspace_bytes
            )));
        }
        if base as usize % 64 != 0 {
            return Err(Error::Value("workspace is not 64-byte aligned".into()));
        }
        Ok(Workspace { base, len })
    }

    /// Token `i`'s part of `region`, as `len` elements of `T`.
    ///
    /// # Safety
    /// No other live reference overlaps it mutably (prepare: one worker per
    /// token; compute: read only).
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice<T: bytemuck::Pod>(&self, region: Region, i: usize, len: usize) -> &mut [T] {
        let start = region.offset + i * region.stride;
        let bytes = len * size_of::<T>();
        assert!(bytes <= region.stride || bytes == 0);
        assert!(start + bytes <= self.len);
        // SAFETY: in bounds (asserted), aligned (64-byte base, strides
        // multiples of 64), exclusivity by the caller.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(start).cast::<T>(), len) }
    }

    /// A region's bytes from token `i` on, for a kernel reading `n` tokens.
    fn tokens<T: bytemuck::Pod>(&self, region: Region, i: usize, n: usize, len: usize) -> &[T] {
        if region.stride == 0 {
            return &[];
        }
        let start = region.offset + i * region.stride;
        let bytes = (n - 1) * region.stride + len * size_of::<T>();
        assert!(start + bytes <= self.len);
        // SAFETY: in bounds; read only while compute runs.
        unsafe {
            std::slice::from_raw_parts(
                self.base.add(start).cast::<T>(),
                bytes.div_ceil(size_of::<T>()),
            )
        }
    }

    /// Worker slot `s`'s kernel output buffer and kernel scratch.
    ///
    /// # Safety
    /// Only one worker uses slot `s` at a time.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slot<T: bytemuck::Pod>(&self, plan: &Plan, s: usize) -> (&mut [T], &mut [u8]) {
        assert!(s < plan.threads);
        let start = plan.slots_offset + s * plan.slot_bytes;
        assert!(start + plan.slot_bytes <= self.len);
        assert!(plan.slot_out_bytes + plan.scratch_bytes <= plan.slot_bytes);
        // SAFETY: in bounds, aligned (slot parts are multiples of 64
        // bytes), disjoint, exclusive by the caller.
        unsafe {
            (
                std::slice::from_raw_parts_mut(
                    self.base.add(start).cast::<T>(),
                    plan.slot_out_bytes / size_of::<T>(),
                ),
                std::slice::from_raw_parts_mut(
                    self.base.add(start + plan.slot_out_bytes),
                    plan.scratch_bytes,
                ),
            )
        }
    }
}

/// Runs `f(item, slot)` for every item in `0..items` on `threads` workers
/// (the calling thread alone when 1), each worker with its own slot
/// `< threads`. Items are claimed in increasing order; on errors, the one
/// of the lowest item is returned (so the first bad token is reported
/// whatever the thread count) and no item above it is started.
pub(crate) fn run_items<F>(threads: usize, items: usize, f: F) -> Result<()>
where
    F: Fn(usize, usize) -> Result<()> + Sync,
{
    if threads <= 1 || items <= 1 {
        return (0..items).try_for_each(|i| f(i, 0));
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicUsize::new(usize::MAX);
    let first_err: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    let worker = |slot: usize| {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= items || i > stop.load(Ordering::Relaxed) {
                break;
            }
            if let Err(e) = f(i, slot) {
                stop.fetch_min(i, Ordering::Relaxed);
                let mut g = first_err.lock().unwrap_or_else(|p| p.into_inner());
                if g.as_ref().is_none_or(|(j, _)| i < *j) {
                    *g = Some((i, e));
                }
            }
        }
    };
    rayon::scope(|s| {
        for slot in 1..threads.min(items) {
            let worker = &worker;
            s.spawn(move |_| worker(slot));
        }
        worker(0);
    });
    match first_err.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Runs a whole call on `plan.threads` workers, batch by batch: prepare
/// (tokens in parallel), then compute (work items in parallel).
///
/// # Safety
/// As [`compute_items`]: `sink` covers the call's `n` tokens.
pub(crate) unsafe fn run_batches(
    plan: &Plan,
    w: &PackedWeights,
    input: &Input,
    ws: &Workspace,
    n: usize,
    sink: Sink,
) -> Result<()> {
    for t0 in (0..n).step_by(plan.batch) {
        let nt = plan.batch.min(n - t0);
        run_items(plan.threads, nt, |i, _| {
            prepare_tokens(plan, input, ws, t0, i..i + 1)
        })?;
        run_items(plan.threads, plan.items(nt), |item, slot| {
            // SAFETY: forwarded; run_items gives each worker its own slot.
            unsafe { compute_items(plan, w, ws, t0, nt, item..item + 1, slot, sink) };
            Ok(())
        })?;
    }
    Ok(())
}

/// Prepares tokens `t0 + range` (batch-relative indices `range`) of the
/// call into the workspace.
pub(crate) fn prepare_tokens(
    plan: &Plan,
    input: &Input,
    ws: &Workspace,
    t0: usize,
    range: Range<usize>,
) -> Result<()> {
    range
        .into_iter()
        .try_for_each(|i| prepare_token(plan, input, ws, t0 + i, i))
}

fn prepare_token(plan: &Plan, input: &Input, ws: &Workspace, t: usize, i: usize) -> Result<()> {
    let geo = &plan.geo;
    let (k, kp, nb) = (geo.k, geo.kp, geo.nb);
    let r = &plan.regions;
    let kernel = plan.kernel;
    // SAFETY: token i's regions are touched by this worker only.
    let (gsum, dscale) = unsafe {
        (
            ws.slice::<f64>(r.gsum, i, nb),
            ws.slice::<f32>(r.dscale, i, 1),
        )
    };
    let tables = unsafe { ws.slice::<u8>(r.tables, i, plan.table_len) };
    if kernel.contract == Contract::Exact {
        // SAFETY: as above.
        let (qpad, qsum) = unsafe {
            (
                ws.slice::<i8>(r.qpad, i, kp),
                ws.slice::<i32>(r.qsum, i, nb),
            )
        };
        match input {
            // Unpadded groups: quantize straight into place.
            Input::Float(x) if geo.bl == geo.bp => {
                dscale[0] = x.quantize(t, k, qpad, kernel.isa)?;
            }
            Input::Float(x) => {
                // SAFETY: as above.
                let qtmp = unsafe { ws.slice::<i8>(r.qtmp, i, k) };
                dscale[0] = x.quantize(t, k, qtmp, kernel.isa)?;
                lut::pad_token(qtmp, geo, qpad);
            }
            Input::Int8(q, d) => {
                lut::pad_token(&q[t * k..(t + 1) * k], geo, qpad);
                dscale[0] = d.get(t).copied().unwrap_or(0.0);
            }
        }
        lut::block_sums(qpad, geo.bp, qsum);
        for (g, &s) in gsum.iter_mut().zip(qsum.iter()) {
            *g = s as f64;
        }
        if let Some(build) = kernel.table_builder() {
            kernels::run_table_builder(
                build,
                geo,
                qpad,
                &[],
                tables,
                &mut [],
                plan.table_len,
                kernel.contract,
            );
        }
    } else {
        // SAFETY: as above.
        let (xtmp, xpad) = unsafe {
            (
                ws.slice::<f32>(r.xtmp, i, k),
                ws.slice::<f32>(r.xpad, i, kp),
            )
        };
        // Unpadded groups: convert straight into place.
        let dst = if geo.bl == geo.bp {
            &mut xpad[..]
        } else {
            &mut xtmp[..]
        };
        match input {
            Input::Float(x) => x.to_f32(t, k, dst)?,
            Input::Int8(q, d) => {
                let d = d.get(t).copied().unwrap_or(0.0);
                for (x, &q) in dst.iter_mut().zip(&q[t * k..(t + 1) * k]) {
                    *x = q as f32 * d;
                }
            }
        }
        dscale[0] = 1.0;
        if geo.bl != geo.bp {
            lut::pad_token(xtmp, geo, xpad);
        }
        lut::block_sums_f64(xpad, geo.bp, gsum);
        let spans = if kernel.contract == Contract::Fast {
            kp / geo.span
        } else {
            0
        };
        // SAFETY: as above.
        let tscale = unsafe { ws.slice::<f32>(r.tscale, i, spans) };
        if let Some(build) = kernel.table_builder() {
            kernels::run_table_builder(
                build,
                geo,
                &[],
                xpad,
                tables,
                tscale,
                plan.table_len,
                kernel.contract,
            );
        }
    }
    Ok(())
}

/// Computes work items `range` of the batch of `nt` tokens starting at
/// token `t0`, with worker slot `slot`, into `sink`.
///
/// # Safety
/// `sink` points to outputs for every token of the call (see [`Sink`]),
/// and no other worker uses `slot` at the same time.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn compute_items(
    plan: &Plan,
    w: &PackedWeights,
    ws: &Workspace,
    t0: usize,
    nt: usize,
    range: Range<usize>,
    slot: usize,
    sink: Sink,
) {
    for item in range {
        // SAFETY: forwarded.
        unsafe { compute_item(plan, w, ws, t0, nt, item, slot, sink) };
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn compute_item(
    plan: &Plan,
    w: &PackedWeights,
    ws: &Workspace,
    t0: usize,
    nt: usize,
    item: usize,
    slot: usize,
    sink: Sink,
) {
    let geo = &plan.geo;
    let token_tiles = nt.div_ceil(plan.token_tile);
    // Row-tile major: a worker claiming consecutive items reuses one row
    // tile's weights (in L2) across token tiles.
    let (rt, tt) = (item / token_tiles, item % token_tiles);
    let g0 = rt * plan.tile_groups;
    let groups = plan.tile_groups.min(geo.row_groups - g0);
    let r0 = g0 * geo.mr;
    let rows = (groups * geo.mr).min(geo.m - r0);
    let i0 = tt * plan.token_tile;
    let n = plan.token_tile.min(nt - i0);
    let rg = geo.row_group_bytes();
    let wbytes = &w.data.bytes()[g0 * rg..][..groups * rg];
    let r = &plan.regions;
    let spans = geo.kp / geo.span;
    let out_stride = groups * geo.mr * geo.nb * plan.plane_out;
    let kernel = plan.kernel;
    let exact = kernel.contract == Contract::Exact;
    // SAFETY: this worker owns `slot` (caller contract); one typed view.
    let (mut buf, scratch) = unsafe {
        if exact {
            let (o, s) = ws.slot::<i32>(plan, slot);
            (SlotBuf::Int(o), s)
        } else {
            let (o, s) = ws.slot::<f32>(plan, slot);
            (SlotBuf::Float(o), s)
        }
    };
    let out = match &mut buf {
        SlotBuf::Int(o) => KernelOut::Int(&mut o[..n * out_stride]),
        SlotBuf::Float(o) => KernelOut::Float(&mut o[..n * out_stride]),
    };
    kernels::run_kernel(
        kernel,
        KernelCall {
            geo,
            w: wbytes,
            row_groups: groups,
            plane_out: plan.plane_out,
            n,
            qpad: ws.tokens(r.qpad, i0, n, geo.kp),
            qpad_stride: r.qpad.stride,
            qsum: ws.tokens(r.qsum, i0, n, geo.nb),
            qsum_stride: r.qsum.stride / 4,
            tables: ws.tokens(r.tables, i0, n, plan.table_len),
            tables_stride: r.tables.stride,
            tscale: ws.tokens(r.tscale, i0, n, spans),
            tscale_stride: r.tscale.stride / 4,
            out,
            out_stride,
            scratch,
        },
    );
    let per_row = geo.nb * plan.plane_out;
    for j in 0..n {
        let i = i0 + j;
        let t = t0 + i;
        let range = j * out_stride..j * out_stride + rows * per_row;
        match sink {
            Sink::Float { y, ldy } => {
                // SAFETY: rows r0..r0+rows of token t are in bounds of the
                // sink and written by this item only.
                let y = unsafe { std::slice::from_raw_parts_mut(y.add(t * ldy + r0), rows) };
                let gsum = &ws.tokens::<f64>(r.gsum, i, 1, geo.nb)[..geo.nb];
                let d = ws.tokens::<f32>(r.dscale, i, 1, 1)[0];
                let psums = match &buf {
                    SlotBuf::Int(o) => Sums::Int(&o[range]),
                    SlotBuf::Float(o) => Sums::Float(&o[range]),
                };
                let rows_in = epilogue::Rows {
                    sums: psums,
                    scales: &w.scales[r0 * per_row..(r0 + rows) * per_row],
                    offsets: w
                        .offsets
                        .as_ref()
                        .map(|o| &o[r0 * geo.nb..(r0 + rows) * geo.nb]),
                    gsum,
                    nb: geo.nb,
                    planes: plan.plane_out,
                    d,
                };
                epilogue::scale_rows(&rows_in, y);
            }
            Sink::Ints(out) => {
                let SlotBuf::Int(o) = &buf else {
                    unreachable!("integer sums are only asked of Exact kernels")
                };
                // SAFETY: as above, for the n × m × per_row sums.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(
                        out.add((t * geo.m + r0) * per_row),
                        rows * per_row,
                    )
                };
                dst.copy_from_slice(&o[range]);
            }
        }
    }
}

/// One worker slot's kernel output, typed by contract.
enum SlotBuf<'a> {
    Int(&'a mut [i32]),
    Float(&'a mut [f32]),
}
