//! Execution of a [`Plan`] over a caller-provided workspace, in two phases
//! that a host may run from its own threads with a barrier between them:
//!
//! - [`prepare_tokens`]: activations of a token range → what the kernel
//!   reads (int8 or f32 padded activations, group sums, tables);
//! - [`compute_items`]: a range of work items (row tile × token tile) →
//!   kernel sums → epilogue → outputs.
//!
//! [`run_items`] runs either phase on a set of [`Workers`] (dynamic
//! claiming of items; the calling thread alone is the one-worker case). Every
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
use crate::plan::{KEY_OFFSET, Plan, Region};
use crate::team::Workers;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

    /// `len` elements of `T` at byte `offset` of worker slot `s`.
    ///
    /// # Safety
    /// Only one worker uses slot `s` at a time, and the caller keeps at
    /// most one live view of any byte.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slot<T: bytemuck::Pod>(
        &self,
        plan: &Plan,
        s: usize,
        offset: usize,
        len: usize,
    ) -> &mut [T] {
        assert!(s < plan.threads);
        assert!(offset % 64 == 0 && offset + len * size_of::<T>() <= plan.slot_bytes);
        let start = plan.slots_offset + s * plan.slot_bytes + offset;
        assert!(start + len * size_of::<T>() <= self.len);
        // SAFETY: in bounds, aligned (64-byte slots and offsets), exclusive
        // by the caller.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(start).cast::<T>(), len) }
    }
}

/// Runs `f(item, slot)` for every item in `0..items` on `workers` (each
/// worker with its own slot `< workers.threads()`). Items are claimed in
/// increasing order; on errors, the one of the lowest item is returned (so
/// the first bad token is reported whatever the thread count) and no item
/// above it is started.
pub(crate) fn run_items<F>(workers: Workers, items: usize, f: F) -> Result<()>
where
    F: Fn(usize, usize) -> Result<()> + Sync,
{
    if workers.threads() <= 1 || items <= 1 {
        return (0..items).try_for_each(|i| f(i, 0));
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicUsize::new(usize::MAX);
    let first_err: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    workers.broadcast(&|slot: usize| {
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
    });
    match first_err.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Runs a whole call on `workers` (as many as `plan.threads`), batch by
/// batch: prepare (tokens in parallel), then compute (work items in
/// parallel).
///
/// # Safety
/// As [`compute_items`]: `sink` covers the call's `n` tokens.
pub(crate) unsafe fn run_batches(
    workers: Workers,
    plan: &Plan,
    w: &PackedWeights,
    input: &Input,
    ws: &Workspace,
    n: usize,
    sink: Sink,
) -> Result<()> {
    for t0 in (0..n).step_by(plan.batch) {
        let nt = plan.batch.min(n - t0);
        run_items(workers, nt, |i, _| {
            prepare_tokens(plan, input, ws, t0, i..i + 1)
        })?;
        let batch = next_batch();
        run_items(workers, plan.items(nt), |item, slot| {
            // SAFETY: forwarded; run_items gives each worker its own slot.
            unsafe { compute_items(plan, w, ws, t0, nt, item..item + 1, slot, sink, batch) };
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
    // Shared tables only: with private tables each worker builds its own
    // in compute (see `Plan::new`).
    let build = kernel.table_builder().filter(|_| !plan.private_tables);
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
        if let Some(build) = build {
            // SAFETY: as above.
            let tables = unsafe { ws.slice::<u8>(r.tables, i, plan.table_len) };
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
        if let Some(build) = build {
            let spans = plan.spans;
            // SAFETY: as above.
            let (tables, tscale) = unsafe {
                (
                    ws.slice::<u8>(r.tables, i, plan.table_len),
                    ws.slice::<f32>(r.tscale, i, spans),
                )
            };
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
/// token `t0`, with worker slot `slot`, into `sink`. `batch` names the
/// batch uniquely among all calls of the process (a [`next_batch`] value)
/// when the plan has private tables, so a slot's tables are rebuilt
/// exactly when they are another batch's or token tile's; else it is 0.
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
    batch: u64,
) {
    assert!(!plan.private_tables || batch != 0);
    let token_tiles = nt.div_ceil(plan.token_tile);
    for item in range {
        if plan.whole_token_tiles(nt) {
            for rt in 0..plan.row_tiles {
                // SAFETY: forwarded.
                unsafe { compute_tile(plan, w, ws, t0, nt, rt, item, slot, sink, batch) };
            }
        } else {
            // Row-tile major: a worker claiming consecutive items reuses
            // one row tile's weights (in L2) across token tiles.
            let (rt, tt) = (item / token_tiles, item % token_tiles);
            // SAFETY: forwarded.
            unsafe { compute_tile(plan, w, ws, t0, nt, rt, tt, slot, sink, batch) };
        }
    }
}

/// Gives a host-threaded call (prepare on every thread, a barrier, then
/// compute on every thread) a fresh key in the workspace: called by one
/// thread's prepare, read by every thread's compute ([`call_key`]).
pub(crate) fn publish_key(ws: &Workspace) {
    assert!(ws.len >= KEY_OFFSET + 8);
    // SAFETY: in bounds, 8-byte aligned (64-byte base); only this thread
    // touches the key until the host's barrier.
    unsafe { ws.base.add(KEY_OFFSET).cast::<u64>().write(next_batch()) };
}

/// The key [`publish_key`] left for this call.
pub(crate) fn call_key(ws: &Workspace) -> u64 {
    assert!(ws.len >= KEY_OFFSET + 8);
    // SAFETY: in bounds, aligned; written before the host's barrier.
    unsafe { ws.base.add(KEY_OFFSET).cast::<u64>().read() }
}

/// A fresh batch key for [`compute_items`] (never 0).
pub(crate) fn next_batch() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Builds the tables of token tile `tt` (batch-relative tokens i0..i0+n)
/// into `slot`, unless the slot already holds them; returns the tables and
/// table scales (token j at j · stride).
///
/// # Safety
/// This worker owns `slot`.
#[allow(clippy::too_many_arguments)]
unsafe fn private_tables<'a>(
    plan: &Plan,
    ws: &'a Workspace,
    slot: usize,
    batch: u64,
    tt: usize,
    i0: usize,
    n: usize,
) -> (&'a [u8], &'a [f32]) {
    let geo = &plan.geo;
    let r = &plan.regions;
    let (tr, sr) = (plan.slot_tables, plan.slot_tscale);
    let spans = plan.spans;
    // SAFETY: this worker owns the slot; header, tables and scales are
    // disjoint byte ranges of it.
    let (head, tables, tscale) = unsafe {
        (
            ws.slot::<u64>(plan, slot, 0, 2),
            ws.slot::<u8>(plan, slot, tr.offset, plan.token_tile * tr.stride),
            ws.slot::<f32>(plan, slot, sr.offset, plan.token_tile * sr.stride / 4),
        )
    };
    let key = [batch, tt as u64];
    if head[..] != key {
        let build = plan
            .kernel
            .table_builder()
            .expect("private tables of a table kernel");
        for j in 0..n {
            let (q, x): (&[i8], &[f32]) = if plan.kernel.contract == Contract::Exact {
                (ws.tokens(r.qpad, i0 + j, 1, geo.kp), &[])
            } else {
                (&[], ws.tokens(r.xpad, i0 + j, 1, geo.kp))
            };
            kernels::run_table_builder(
                build,
                geo,
                q,
                x,
                &mut tables[j * tr.stride..][..plan.table_len],
                &mut tscale[j * sr.stride / 4..][..spans],
                plan.table_len,
                plan.kernel.contract,
            );
        }
        head.copy_from_slice(&key);
    }
    (tables, tscale)
}

/// Row tile `rt` × token tile `tt` of the batch.
#[allow(clippy::too_many_arguments)]
unsafe fn compute_tile(
    plan: &Plan,
    w: &PackedWeights,
    ws: &Workspace,
    t0: usize,
    nt: usize,
    rt: usize,
    tt: usize,
    slot: usize,
    sink: Sink,
    batch: u64,
) {
    let geo = &plan.geo;
    let g0 = rt * plan.tile_groups;
    let groups = plan.tile_groups.min(geo.row_groups - g0);
    let r0 = g0 * geo.mr;
    let rows = (groups * geo.mr).min(geo.m - r0);
    let i0 = tt * plan.token_tile;
    let n = plan.token_tile.min(nt - i0);
    let rg = geo.row_group_bytes();
    let wbytes = &w.data.bytes()[g0 * rg..][..groups * rg];
    let r = &plan.regions;
    let spans = plan.spans;
    // Kernel outputs per row: one f32 when the kernel fuses the group
    // scaling, else one sum per group and plane.
    let per_row = if plan.fused {
        1
    } else {
        geo.nb * plan.plane_out
    };
    let out_stride = groups * geo.mr * per_row;
    let kernel = plan.kernel;
    let exact = kernel.contract == Contract::Exact;
    let fused = plan.fused.then(|| {
        let gs = w
            .group_scales
            .as_ref()
            .expect("a fused plan has group scales");
        let stride = gs.row_group_bytes;
        kernels::FusedScales {
            bytes: &gs.bytes.bytes()[g0 * stride..][..groups * stride],
            stride,
            f16: gs.f16,
            offsets: gs.offsets,
            zero_point: gs.zero_point,
        }
    });
    let out_len = plan.slot_out_bytes / 4;
    // SAFETY: this worker owns `slot` (caller contract); one typed view of
    // its output part and one of its kernel scratch, disjoint from each
    // other and from its tables.
    let (mut buf, scratch) = unsafe {
        let scratch = ws.slot::<u8>(
            plan,
            slot,
            plan.slot_out + plan.slot_out_bytes,
            plan.scratch_bytes,
        );
        let buf = if exact && !plan.fused {
            SlotBuf::Int(ws.slot::<i32>(plan, slot, plan.slot_out, out_len))
        } else {
            SlotBuf::Float(ws.slot::<f32>(plan, slot, plan.slot_out, out_len))
        };
        (buf, scratch)
    };
    let (tables, tables_stride, tscale, tscale_stride) = if plan.private_tables {
        // SAFETY: this worker owns `slot`.
        let (t, s) = unsafe { private_tables(plan, ws, slot, batch, tt, i0, n) };
        (t, plan.slot_tables.stride, s, plan.slot_tscale.stride / 4)
    } else {
        (
            ws.tokens(r.tables, i0, n, plan.table_len),
            r.tables.stride,
            ws.tokens(r.tscale, i0, n, spans),
            r.tscale.stride / 4,
        )
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
            xpad: ws.tokens(r.xpad, i0, n, geo.kp),
            xpad_stride: r.xpad.stride / 4,
            qsum: ws.tokens(r.qsum, i0, n, geo.nb),
            qsum_stride: r.qsum.stride / 4,
            tables,
            tables_stride,
            tscale,
            tscale_stride,
            out,
            out_stride,
            fused,
            scratch,
        },
    );
    for j in 0..n {
        let i = i0 + j;
        let t = t0 + i;
        let range = j * out_stride..j * out_stride + rows * per_row;
        match sink {
            Sink::Float { y, ldy } => {
                // SAFETY: rows r0..r0+rows of token t are in bounds of the
                // sink and written by this item only.
                let y = unsafe { std::slice::from_raw_parts_mut(y.add(t * ldy + r0), rows) };
                let d = ws.tokens::<f32>(r.dscale, i, 1, 1)[0];
                if plan.fused {
                    let SlotBuf::Float(o) = &buf else {
                        unreachable!("fused kernels write floats")
                    };
                    epilogue::scale_fused(&o[range], d, y);
                    continue;
                }
                let gsum = &ws.tokens::<f64>(r.gsum, i, 1, geo.nb)[..geo.nb];
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
