//! Packed weights, the reusable context, tiling and threading.
//!
//! A call runs in token batches (so the prepared activations stay within
//! [`PREP_BUDGET`] bytes however large `n` is). For each batch: *prepare*
//! quantizes every token to int8 and builds what the kernel reads (padded
//! activations, block sums, tables); *compute* splits the rows of `W` into
//! tiles of whole row groups and, per tile and token, runs the kernel into a
//! tile-private int32 buffer, then scales to f32. A row's result depends only
//! on that row's integer sums and scales, so it is bit-identical for every
//! thread count and tiling.

use crate::activation::{ActivationElem, check_int8, quantize_token};
use crate::aligned::AlignedBuf;
use crate::error::{Error, Result, check_len};
use crate::format::{ScaleGranularity, TernaryMatrix};
use crate::isa::Isa;
use crate::kernels::{self, KernelArgs, KernelDesc, KernelFamily};
use crate::lut::{self, LUT2_GROUP_BYTES, LUT4_GROUP_BYTES};
use crate::pack::{Geometry, Layout, pack_ternary};
use crate::{portable, select};
use rayon::prelude::*;

/// Bytes of prepared activations per batch of tokens (at least one token).
/// About an L2's worth: tables are re-read once per row tile.
const PREP_BUDGET: usize = 1 << 20;

/// Target bytes of packed weights per row tile when a batch has several
/// tokens: small enough to stay in L2 (1 MiB on Zen 4) while every token
/// streams over it, large enough that a table kernel sharing each table load
/// across 8 row groups of 64 rows gets them (k = 4096: 64 KiB per group).
const TILE_BYTES: usize = 512 << 10;

/// How to pack a matrix; `Default` selects automatically.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackOptions {
    /// Force a kernel family (else selected from measured crossovers).
    pub family: Option<KernelFamily>,
    /// Force an ISA (else `LUTGEMM_ISA`, else the best available).
    pub isa: Option<Isa>,
}

/// Ternary weights packed for one kernel: immutable, `Send + Sync`, 64-byte
/// aligned. Pack once at load time; any number of threads and contexts may
/// compute with it at once.
pub struct PackedTernary {
    kernel: &'static KernelDesc,
    reason: &'static str,
    granularity: ScaleGranularity,
    geo: Geometry,
    /// m × nb, row-major: the scale of every (row, block).
    scales: Vec<f32>,
    data: AlignedBuf,
}

impl PackedTernary {
    /// Packs `w` for the kernel chosen by `opts`.
    pub fn pack(w: &TernaryMatrix, opts: &PackOptions) -> Result<PackedTernary> {
        let isa = match opts.isa {
            Some(isa) => isa.require()?,
            None => Isa::default_isa()?,
        };
        let (kernel, reason) = match opts.family {
            Some(family) => (
                kernels::find(family, isa).ok_or_else(|| {
                    Error::Unavailable(format!("no {} kernel for ISA {isa}", family.name()))
                })?,
                "forced by PackOptions::family",
            ),
            None => select::select(isa, w.m(), w.k()),
        };
        let geo = Geometry::new(w.m(), w.k(), w.block_len(), kernel.layout);
        let mut data = AlignedBuf::zeroed(geo.packed_bytes());
        pack_ternary(w, kernel.layout, &geo, data.bytes_mut());
        let scales = (0..w.m())
            .flat_map(|r| (0..geo.nb).map(move |b| (r, b)))
            .map(|(r, b)| w.scale(r, b))
            .collect();
        Ok(PackedTernary {
            kernel,
            reason,
            granularity: w.granularity(),
            geo,
            scales,
            data,
        })
    }

    /// Rows of `W` (outputs per token).
    pub fn m(&self) -> usize {
        self.geo.m
    }
    /// Columns of `W` (inputs per token).
    pub fn k(&self) -> usize {
        self.geo.k
    }
    /// Scale blocks per row.
    pub fn blocks_per_row(&self) -> usize {
        self.geo.nb
    }
    /// The kernel these weights are packed for.
    pub fn kernel(&self) -> &'static KernelDesc {
        self.kernel
    }
    /// Bytes of packed weights (what a GEMV streams).
    pub fn packed_bytes(&self) -> usize {
        self.data.len()
    }
    /// Which kernel and ISA run, the layout, and why it was chosen.
    pub fn describe(&self) -> String {
        format!(
            "ternary {}×{} ({:?} scale), kernel {} (family {}, isa {}, {:?}), {} packed bytes; {}",
            self.geo.m,
            self.geo.k,
            self.granularity,
            self.kernel.name,
            self.kernel.family.name(),
            self.kernel.isa,
            self.kernel.layout,
            self.data.len(),
            self.reason
        )
    }
}

impl std::fmt::Debug for PackedTernary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Where a call's results go.
enum Sink<'a> {
    /// n × m floats.
    Float(&'a mut [f32]),
    /// n × m × nb exact integer sums.
    Ints(&'a mut [i32]),
}

/// Reusable per-caller state: threading choice, forced ISA and the
/// workspace. Repeated calls with shapes no larger than before allocate
/// nothing. A context is used by one call at a time (`&mut self`); give each
/// caller thread its own.
pub struct Context {
    threads: usize,
    pool: Option<rayon::ThreadPool>,
    isa: Option<Isa>,
    last: Option<&'static KernelDesc>,
    qtmp: Vec<i8>,
    dscale: Vec<f32>,
    qpad: AlignedBuf,
    qsum: Vec<i32>,
    tables: AlignedBuf,
    isums: Vec<i32>,
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

/// A pointer to the output that tiles write disjoint rows of.
#[derive(Clone, Copy)]
struct OutPtr<T>(*mut T);
// SAFETY: every tile writes only its own rows (see `compute_tile`).
unsafe impl<T> Send for OutPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The pointer (a method, so closures capture the `Sync` wrapper).
    fn get(self) -> *mut T {
        self.0
    }
}

impl Context {
    /// A context running on rayon's global pool.
    pub fn new() -> Context {
        Context {
            threads: 0,
            pool: None,
            isa: None,
            last: None,
            qtmp: Vec::new(),
            dscale: Vec::new(),
            qpad: AlignedBuf::default(),
            qsum: Vec::new(),
            tables: AlignedBuf::default(),
            isums: Vec::new(),
        }
    }

    /// A context with its own thread count: `0` uses rayon's global pool,
    /// `1` runs on the calling thread (no rayon at all), `n > 1` builds a
    /// private pool of `n` threads once, here.
    pub fn with_threads(threads: usize) -> Result<Context> {
        let mut c = Context::new();
        c.threads = threads;
        if threads > 1 {
            c.pool = Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .map_err(|e| Error::Unavailable(format!("cannot start threads: {e}")))?,
            );
        }
        Ok(c)
    }

    /// Forces the ISA for this context's calls. The packed weights' own ISA
    /// and `Isa::Scalar` (the portable kernel on the same layout) are
    /// accepted; `None` runs the packed kernel.
    pub fn set_isa(&mut self, isa: Option<Isa>) {
        self.isa = isa;
    }

    /// The kernel that ran in the last successful call.
    pub fn last_kernel(&self) -> Option<&'static KernelDesc> {
        self.last
    }

    /// `y = x · Wᵀ` under the exact contract: `x` is n × k row-major f32
    /// (or f16/bf16), quantized to int8 per token inside the call; `y` is
    /// n × m row-major. On `Err` (say a NaN in token 5), `y` may be partly
    /// written.
    pub fn matmul<T: ActivationElem>(
        &mut self,
        w: &PackedTernary,
        x: &[T],
        n: usize,
        y: &mut [f32],
    ) -> Result<()> {
        check_call(w, n)?;
        check_len("x (n × k activations)", n * w.k(), x.len())?;
        check_len("y (n × m outputs)", n * w.m(), y.len())?;
        self.run(w, n, Input::Float(&FloatSlice(x)), Sink::Float(y))
    }

    /// `y = x · Wᵀ` from int8 activations quantized by the caller: `q` is
    /// n × k with values in [−127, 127], `d` holds one dequantization factor
    /// per token (`x ≈ d_t · q`).
    pub fn matmul_i8(
        &mut self,
        w: &PackedTernary,
        q: &[i8],
        d: &[f32],
        n: usize,
        y: &mut [f32],
    ) -> Result<()> {
        check_call(w, n)?;
        check_len("q (n × k int8 activations)", n * w.k(), q.len())?;
        check_len("d (per-token scales)", n, d.len())?;
        check_len("y (n × m outputs)", n * w.m(), y.len())?;
        check_int8(q, w.k())?;
        if let Some(t) = d.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite { token: t, index: 0 });
        }
        self.run(w, n, Input::Int8(q, d), Sink::Float(y))
    }

    /// The exact integer sums `Σ_{c ∈ block b} q[t,c] · code[r,c]` that the
    /// kernel produces, n × m × blocks_per_row: the part of the exact
    /// contract that must equal `reference::integer_sums` bit for bit.
    pub fn integer_sums(
        &mut self,
        w: &PackedTernary,
        q: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<()> {
        check_call(w, n)?;
        check_len("q (n × k int8 activations)", n * w.k(), q.len())?;
        check_len(
            "out (n × m × blocks sums)",
            n * w.m() * w.blocks_per_row(),
            out.len(),
        )?;
        check_int8(q, w.k())?;
        self.run(w, n, Input::Int8(q, &[]), Sink::Ints(out))
    }

    fn kernel_for(&self, w: &PackedTernary) -> Result<&'static KernelDesc> {
        match self.isa {
            None => Ok(w.kernel),
            Some(isa) if isa == w.kernel.isa => Ok(w.kernel),
            Some(Isa::Scalar) => Ok(portable::kernel_for(w.kernel.layout)),
            Some(isa) => Err(Error::Unavailable(format!(
                "weights are packed for {} ({}); a context can only force that ISA or scalar \
                 (repack with PackOptions::isa = Some(Isa::{isa:?}))",
                w.kernel.name, w.kernel.isa
            ))),
        }
    }

    fn run(&mut self, w: &PackedTernary, n: usize, input: Input, mut sink: Sink) -> Result<()> {
        let plan = Plan::new(self.kernel_for(w)?, w, n, self.effective_threads());
        let geo = &w.geo;

        // Workspace: grows to the largest shape seen, never shrinks.
        self.qtmp.resize(plan.batch * geo.k, 0);
        self.dscale.resize(plan.batch, 0.0);
        self.qpad.resize(plan.batch * plan.kp_stride);
        self.qsum.resize(plan.batch * geo.nb, 0);
        self.tables.resize(plan.batch * plan.tab_stride);
        self.isums.resize(plan.tiles * plan.tile_ints, 0);

        let pool = self.pool.take();
        let result = in_pool(pool.as_ref(), || {
            for t0 in (0..n).step_by(plan.batch) {
                let nt = plan.batch.min(n - t0);
                self.prepare(&plan, geo, &input, t0, nt)?;
                self.compute(&plan, w, t0, nt, &mut sink);
            }
            Ok(())
        });
        self.pool = pool;
        if result.is_ok() {
            self.last = Some(plan.kernel);
        }
        result
    }

    fn effective_threads(&self) -> usize {
        match self.threads {
            0 => rayon::current_num_threads(),
            t => t,
        }
    }

    /// Quantizes tokens `t0..t0+nt` and builds what the kernel reads.
    fn prepare(
        &mut self,
        plan: &Plan,
        geo: &Geometry,
        input: &Input,
        t0: usize,
        nt: usize,
    ) -> Result<()> {
        let k = geo.k;
        let per_token = |i: usize,
                         qtmp: &mut [i8],
                         d: &mut f32,
                         qpad: &mut [u8],
                         qsum: &mut [i32],
                         tables: &mut [u8]|
         -> Result<()> {
            let t = t0 + i;
            let qpad: &mut [i8] = bytemuck::cast_slice_mut(&mut qpad[..geo.kp]);
            match input {
                Input::Float(x) => {
                    *d = x.quantize(t * k..(t + 1) * k, qtmp, t)?;
                    lut::pad_token(qtmp, geo, qpad);
                }
                Input::Int8(q, ds) => {
                    lut::pad_token(&q[t * k..(t + 1) * k], geo, qpad);
                    *d = ds.get(t).copied().unwrap_or(0.0);
                }
            }
            let tables = &mut tables[..plan.table_len];
            match (plan.family, plan.kernel.build_tables) {
                (KernelFamily::MultiplyAdd, _) => lut::block_sums(qpad, geo.bp, qsum),
                // SAFETY: the kernel's own builder; its ISA is available
                // (checked when packing).
                (_, Some(f)) => unsafe { f(qpad, tables) },
                (KernelFamily::Lut2, None) => lut::build_tables_lut2(qpad, tables),
                (KernelFamily::Lut4, None) => lut::build_tables_lut4(qpad, tables),
            }
            Ok(())
        };
        let qtmp = &mut self.qtmp[..nt * k];
        let dscale = &mut self.dscale[..nt];
        let qpad = &mut self.qpad.bytes_mut()[..nt * plan.kp_stride];
        let qsum = &mut self.qsum[..nt * geo.nb];
        let tables = &mut self.tables.bytes_mut()[..nt * plan.tab_stride];
        if plan.threads > 1 && nt > 1 {
            qtmp.par_chunks_mut(k)
                .zip(dscale.par_iter_mut())
                .zip(qpad.par_chunks_mut(plan.kp_stride))
                .zip(qsum.par_chunks_mut(geo.nb))
                .zip(tables.par_chunks_mut(plan.tab_stride))
                .enumerate()
                .try_for_each(|(i, ((((a, b), c), d), e))| per_token(i, a, b, c, d, e))
        } else {
            qtmp.chunks_mut(k)
                .zip(dscale.iter_mut())
                .zip(qpad.chunks_mut(plan.kp_stride))
                .zip(qsum.chunks_mut(geo.nb))
                .zip(tables.chunks_mut(plan.tab_stride))
                .enumerate()
                .try_for_each(|(i, ((((a, b), c), d), e))| per_token(i, a, b, c, d, e))
        }
    }

    /// Runs the kernel over every row tile for tokens `t0..t0+nt` and writes
    /// their results.
    fn compute(&mut self, plan: &Plan, w: &PackedTernary, t0: usize, nt: usize, sink: &mut Sink) {
        let geo = w.geo;
        let qpad = self.qpad.bytes();
        let qsum = &self.qsum[..];
        let tables = self.tables.bytes();
        let dscale = &self.dscale[..];
        let (fout, iout) = match sink {
            Sink::Float(y) => (OutPtr(y.as_mut_ptr()), OutPtr(std::ptr::null_mut())),
            Sink::Ints(o) => (OutPtr(std::ptr::null_mut()), OutPtr(o.as_mut_ptr())),
        };
        let tile = |(ti, isums): (usize, &mut [i32])| {
            let g0 = ti * plan.tile_groups;
            let groups = plan.tile_groups.min(geo.row_groups - g0);
            let r0 = g0 * geo.mr;
            let rows = (groups * geo.mr).min(geo.m - r0);
            let wbytes =
                &w.data.bytes()[g0 * geo.row_group_bytes()..][..groups * geo.row_group_bytes()];
            let isums = &mut isums[..groups * geo.mr * geo.nb];
            for i in 0..nt {
                let args = KernelArgs {
                    layout: w.kernel.layout,
                    w: wbytes.as_ptr(),
                    qpad: qpad[i * plan.kp_stride..][..geo.kp].as_ptr().cast(),
                    qsum: qsum[i * geo.nb..][..geo.nb].as_ptr(),
                    tables: tables[i * plan.tab_stride..][..plan.table_len].as_ptr(),
                    row_groups: groups,
                    nb: geo.nb,
                    bp: geo.bp,
                    out: isums.as_mut_ptr(),
                };
                // SAFETY: every slice above has exactly the extent the
                // kernel reads or writes for `groups` row groups of this
                // geometry; the layout is the packed one; the kernel's ISA
                // is available (checked at pack time, or it is scalar).
                unsafe { (plan.kernel.run)(&args) };
                let t = t0 + i;
                let sums = &isums[..rows * geo.nb];
                if !fout.get().is_null() {
                    // SAFETY: rows r0..r0+rows < m of token t < n are in
                    // bounds of y (n × m), and only this tile writes them.
                    let y = unsafe {
                        std::slice::from_raw_parts_mut(fout.get().add(t * geo.m + r0), rows)
                    };
                    let scales = &w.scales[r0 * geo.nb..(r0 + rows) * geo.nb];
                    scale_rows(sums, scales, geo.nb, dscale[i], y);
                } else {
                    // SAFETY: as above, for out (n × m × nb).
                    let out = unsafe {
                        std::slice::from_raw_parts_mut(
                            iout.get().add((t * geo.m + r0) * geo.nb),
                            rows * geo.nb,
                        )
                    };
                    out.copy_from_slice(sums);
                }
            }
        };
        let isums = &mut self.isums[..plan.tiles * plan.tile_ints];
        if plan.threads > 1 {
            isums
                .par_chunks_mut(plan.tile_ints)
                .enumerate()
                .for_each(tile);
        } else {
            isums.chunks_mut(plan.tile_ints).enumerate().for_each(tile);
        }
    }
}

/// How one call runs: kernel, strides of the prepared activations, token
/// batch and row tiles.
struct Plan {
    kernel: &'static KernelDesc,
    family: KernelFamily,
    /// Table bytes per token (0 for multiply-add).
    table_len: usize,
    /// Bytes between tokens in the padded-activation and table buffers
    /// (cache-line multiples, so every token starts 64-byte aligned).
    kp_stride: usize,
    tab_stride: usize,
    /// Tokens prepared at once.
    batch: usize,
    threads: usize,
    /// Row groups per tile, tiles, and int32 sums per tile.
    tile_groups: usize,
    tiles: usize,
    tile_ints: usize,
}

impl Plan {
    fn new(kernel: &'static KernelDesc, w: &PackedTernary, n: usize, threads: usize) -> Plan {
        let geo = &w.geo;
        let family = match w.kernel.layout {
            Layout::Mad { .. } => KernelFamily::MultiplyAdd,
            Layout::Lut2 { .. } => KernelFamily::Lut2,
            Layout::Lut4 { .. } => KernelFamily::Lut4,
        };
        let table_len = match family {
            KernelFamily::MultiplyAdd => 0,
            KernelFamily::Lut2 => geo.kp / 2 * LUT2_GROUP_BYTES,
            KernelFamily::Lut4 => geo.kp / 4 * LUT4_GROUP_BYTES,
        };
        let kp_stride = geo.kp.next_multiple_of(64);
        // At least one line, so per-token chunking works for table-less kernels.
        let tab_stride = table_len.next_multiple_of(64).max(64);
        let batch = (PREP_BUDGET / (kp_stride + tab_stride)).clamp(1, n);
        let tile_groups = tile_row_groups(geo, threads, batch);
        Plan {
            kernel,
            family,
            table_len,
            kp_stride,
            tab_stride,
            batch,
            threads,
            tile_groups,
            tiles: geo.row_groups.div_ceil(tile_groups),
            tile_ints: tile_groups * geo.mr * geo.nb,
        }
    }
}

/// The activations of a call.
enum Input<'a> {
    Float(&'a dyn FloatTokens),
    /// Caller-quantized values and per-token scales (empty for sums only).
    Int8(&'a [i8], &'a [f32]),
}

/// Float activations of any element type, quantized token by token.
trait FloatTokens: Sync {
    fn quantize(&self, range: std::ops::Range<usize>, q: &mut [i8], token: usize) -> Result<f32>;
}

struct FloatSlice<'a, T>(&'a [T]);

impl<T: ActivationElem> FloatTokens for FloatSlice<'_, T> {
    fn quantize(&self, range: std::ops::Range<usize>, q: &mut [i8], token: usize) -> Result<f32> {
        quantize_token(&self.0[range], q, token)
    }
}

/// `y[r] = (Σ_b f32(isums[r, b]) · scales[r, b]) · d`, blocks in order
/// and without fused multiply-add, so every kernel and thread count gives
/// the same bits. The one-block case (per-tensor and per-row scales) is a
/// separate loop so it vectorizes.
fn scale_rows(isums: &[i32], scales: &[f32], nb: usize, d: f32, y: &mut [f32]) {
    if nb == 1 {
        for ((y, &v), &s) in y.iter_mut().zip(isums).zip(scales) {
            *y = (0.0 + v as f32 * s) * d;
        }
        return;
    }
    for ((y, sums), s) in y
        .iter_mut()
        .zip(isums.chunks_exact(nb))
        .zip(scales.chunks_exact(nb))
    {
        let mut acc = 0f32;
        for (&v, &s) in sums.iter().zip(s) {
            acc += v as f32 * s;
        }
        *y = acc * d;
    }
}

/// Row groups per tile: a few tiles per thread when there are rows enough
/// (balance), and, when a batch has several tokens, about [`TILE_BYTES`] of
/// weights so a tile stays in L2 while they stream over it.
fn tile_row_groups(geo: &Geometry, threads: usize, tokens: usize) -> usize {
    if threads <= 1 {
        // One kernel call over all rows: the table kernels reuse each
        // table load across all the row groups of a call, and measured
        // 25% slower with 8-row-group tiles (lut4_avx512, 4096 × 4096).
        return if tokens == 1 {
            geo.row_groups
        } else {
            (TILE_BYTES / geo.row_group_bytes()).clamp(1, geo.row_groups)
        };
    }
    // Tiles per thread: enough for rayon to rebalance when a core is busy
    // (the machines are shared), few enough to keep calls long.
    let per_thread = if tokens == 1 { 2 } else { 4 };
    let by_balance = geo.row_groups.div_ceil(per_thread * threads).max(1);
    if tokens == 1 {
        return by_balance;
    }
    let by_bytes = (TILE_BYTES / geo.row_group_bytes()).max(1);
    by_bytes.min(by_balance)
}

fn check_call(w: &PackedTernary, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Shape(format!(
            "n (tokens) must be at least 1 for a {}×{} matrix",
            w.m(),
            w.k()
        )));
    }
    // Every n-sized length a call computes (x, y, integer sums), in bytes.
    let fits = |cols: usize| n.checked_mul(cols).and_then(|v| v.checked_mul(4)).is_some();
    if !fits(w.k()) || !fits(w.m() * w.blocks_per_row()) {
        return Err(Error::Shape(format!(
            "n = {n} tokens overflow the sizes of a {}×{} product",
            w.m(),
            w.k()
        )));
    }
    Ok(())
}

fn in_pool<R: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}
