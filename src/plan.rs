//! How a call runs, as a pure function of the packed weights, the token
//! count and the thread count: token batch, row tiles × token tiles (the
//! work items), and the workspace layout and size. The Rust `Context` and a
//! host-threaded C caller both run a [`Plan`] over one workspace.
//!
//! Per-token tables are built in the prepare phase. A vector-LUT table row
//! holds one group sum for every token of a token tile, so those tables
//! cannot be per token: the vector-LUT kernel builds them itself, inside
//! each call, in kernel scratch that the plan reserves in every worker
//! slot after the slot's output ([`Plan::scratch_bytes`], sized by
//! `Layout::kernel_scratch_bytes` for the call's rows). The layout also
//! sets the token tile (32) and asks for calls of many rows.

use crate::cache::CacheSizes;
use crate::contract::Contract;
use crate::kernels::KernelDesc;
use crate::layout::Geometry;
use crate::packed::PackedWeights;

/// The byte budgets of a plan, from the per-core L2 ([`CacheSizes`]; the
/// figures below are for Zen 4's 1 MiB).
#[derive(Debug, Clone, Copy)]
struct Budgets {
    /// Prepared activations per batch of tokens (at least one token): an
    /// L2's worth, since tables are re-read once per row tile.
    prep: usize,
    /// Packed weights per row tile when a batch has several tokens: half
    /// an L2 (512 KiB), so a tile stays there while every token streams
    /// over it, and a table kernel sharing each table load across 8 row
    /// groups of 64 rows gets them (k = 4096: 64 KiB each).
    tile: usize,
    /// Kernel output per work item: a quarter of an L2 (256 KiB), so a
    /// tile's per-group sums stay there until the epilogue reads them.
    /// With small groups the sums outweigh the weights (int4, groups of
    /// 32, 4096 × 4096: 2 MiB per token), and letting them leave the cache
    /// measured 1.7× slower (mad_int_avx512, 282 vs 170 µs at n = 1).
    out: usize,
}

impl Budgets {
    fn get() -> Budgets {
        let l2 = CacheSizes::get().l2;
        Budgets {
            prep: l2,
            tile: l2 / 2,
            out: l2 / 4,
        }
    }
}

/// Where a host-threaded call keeps its key (see `exec::publish_key`).
pub(crate) const KEY_OFFSET: usize = 0;

/// Largest kernel output per work item of the vector-LUT, whose calls
/// cover many rows: with small scale groups (many sums per row) the rows
/// per call shrink instead of the slot (and the kernel's int32 sums in its
/// scratch, as large) growing without bound. 4096 × 4096 in groups of 256
/// (16 sums per row), n = 256, avx512: 1024 / 2048 / 4096-row calls (2 /
/// 4 / 8 MiB) 28.8 / 27.1 / 29.0 ms (fewer table builds against sums that
/// leave the caches).
const VECLUT_OUT_BYTES: usize = 4 << 20;

/// Tokens per kernel call (one token tile): the kernels reuse each weight
/// load across the tile's tokens.
const TOKEN_TILE: usize = 8;

/// One per-token region of the workspace: `stride` bytes per token
/// (a multiple of 64, so every token starts cache-line aligned), starting
/// at `offset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Region {
    pub offset: usize,
    pub stride: usize,
}

/// The per-token regions of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Regions {
    /// int8 activations, k (Exact).
    pub qtmp: Region,
    /// Padded int8 activations, kp (Exact).
    pub qpad: Region,
    /// f32 activations, k (Fast, Float).
    pub xtmp: Region,
    /// Padded f32 activations, kp (Fast, Float).
    pub xpad: Region,
    /// int32 group sums of qpad, nb (Exact).
    pub qsum: Region,
    /// f64 group sums of the activations the epilogue's offsets multiply.
    pub gsum: Region,
    /// The kernel's tables.
    pub tables: Region,
    /// Fast-contract table scales, kp / span.
    pub tscale: Region,
    /// The token's dequantization factor (one f32).
    pub dscale: Region,
}

/// What a call's results are: floats (`matmul`), or the kernels' exact
/// integer sums (`Context::integer_sums`, which never fuse the scaling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    Floats,
    IntegerSums,
}

/// A call's plan.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub kernel: &'static KernelDesc,
    pub geo: Geometry,
    pub plane_out: usize,
    /// The kernel applies the group scales itself (`PackedWeights::
    /// group_scales`) and writes one f32 per (token, row).
    pub fused: bool,
    /// Tokens prepared at once.
    pub batch: usize,
    /// Worker slots (threads).
    pub threads: usize,
    /// Tokens per kernel call.
    pub token_tile: usize,
    /// Row groups per row tile, and row tiles.
    pub tile_groups: usize,
    pub row_tiles: usize,
    /// Table bytes per token.
    pub table_len: usize,
    /// Fast-contract table scales per token, one per span of activations
    /// (0 under the other contracts).
    pub spans: usize,
    /// Each worker builds the tables of the tokens it computes in its own
    /// slot (see [`Plan::new`]); prepare builds none.
    pub private_tables: bool,
    /// In a slot: the tables' offset, one token's stride, and the Fast
    /// table scales' offset and stride (private tables only); then where
    /// the kernel output starts.
    pub slot_tables: Region,
    pub slot_tscale: Region,
    pub slot_out: usize,
    pub regions: Regions,
    /// Bytes per worker slot (kernel output, then kernel scratch), and
    /// where the slots start.
    pub slot_bytes: usize,
    /// Kernel scratch bytes per call (vector-LUT tables and accumulators;
    /// 0 for other layouts), after the kernel output (`slot_out_bytes`
    /// from `slot_out`) in each slot.
    pub scratch_bytes: usize,
    pub slot_out_bytes: usize,
    pub slots_offset: usize,
    /// Bytes of the whole workspace.
    pub workspace_bytes: usize,
}

impl Plan {
    /// The plan for `n` tokens through `kernel` on `w`, with `threads`
    /// worker slots, writing `output`; `batch_all` prepares every token at
    /// once (a host that calls prepare then compute once needs that).
    ///
    /// With several workers, a table kernel's worker builds the tables it
    /// reads in its own slot. Shared tables, written by one core and read
    /// by the other, measured here as the reason lut_g4 did not scale:
    /// 4096 × 4096, n = 1, two threads, 73 µs with shared tables against
    /// 55 µs with a copy per worker (one thread: 87 µs); each of its tokens
    /// has 256 KiB of tables, which the second core pulled out of the
    /// first one's L2.
    pub fn new(
        kernel: &'static KernelDesc,
        w: &PackedWeights,
        n: usize,
        threads: usize,
        batch_all: bool,
        output: Output,
    ) -> Plan {
        let geo = w.geo;
        let fused = output == Output::Floats && w.group_scales.is_some();
        assert!(!fused || kernel.layout.fuses_group_scaling(w.format()));
        let contract = kernel.contract;
        let layout = kernel.layout;
        let threads = threads.max(1);
        let exact = contract == Contract::Exact;
        let line = |b: usize| b.next_multiple_of(64);
        let table_len = layout.table_bytes(contract, geo.kp);
        let per = |on: bool, bytes: usize| if on { line(bytes) } else { 0 };
        let private_tables = threads > 1 && table_len > 0;
        let spans = if contract == Contract::Fast {
            geo.kp / geo.span
        } else {
            0
        };
        let strides = [
            per(exact, geo.k),
            per(exact, geo.kp),
            per(!exact, 4 * geo.k),
            per(!exact, 4 * geo.kp),
            per(exact, 4 * geo.nb),
            line(8 * geo.nb),
            per(table_len > 0 && !private_tables, table_len),
            per(spans > 0 && !private_tables, 4 * spans),
            64,
        ];
        let per_token: usize = strides.iter().sum();
        let budgets = Budgets::get();
        let mut batch = if batch_all {
            n
        } else {
            (budgets.prep / per_token).clamp(1, n)
        };
        if let Some(tile) = layout.token_tile().filter(|_| !batch_all) {
            // Whole token tiles per batch: a vector-LUT call costs the same
            // for 10 tokens as for 32 (2560 × 6912, n = 256: batches of 74
            // = 32 + 32 + 10 measured 26.6 ms, whole tiles 19.7 ms), also
            // where an L2 holds fewer than a tile's prepared tokens (Float
            // at k = 4096, 32 KiB a token: batches of 24 made every tile
            // two calls, 4096 × 4096, n = 32: 10.9 against 5.5 ms), and a
            // tile per thread (else the threads split one tile's rows and
            // each builds its tables: Fast, 4096 × 4096, n = 256, two
            // threads, 1.35× one thread with one tile per batch).
            let least = tile * threads;
            batch = if batch >= least {
                batch / tile * tile
            } else {
                n.min(least)
            };
        }
        // The first 64 bytes hold the call key of a host-threaded call
        // ([`KEY_OFFSET`]).
        let mut offset = 64;
        let mut region = |stride: usize| {
            let r = Region { offset, stride };
            offset += stride * batch;
            r
        };
        let regions = Regions {
            qtmp: region(strides[0]),
            qpad: region(strides[1]),
            xtmp: region(strides[2]),
            xpad: region(strides[3]),
            qsum: region(strides[4]),
            gsum: region(strides[5]),
            tables: region(strides[6]),
            tscale: region(strides[7]),
            dscale: region(strides[8]),
        };
        let token_bytes = offset;
        let token_tile = batch.min(layout.token_tile().unwrap_or(TOKEN_TILE));
        // Kernel outputs per row: one f32 when fused, else one int32 or
        // f32 per group and plane.
        let per_row = if fused { 1 } else { geo.nb * w.plane_out };
        let out_per_group = geo.mr * per_row * token_tile * 4;
        let mut tile_groups = tile_row_groups(&geo, threads, batch, budgets.tile);
        if let (Some(rows), true) = (layout.tile_rows(), batch > 1) {
            // ---- vector-LUT: calls of many rows (tables built per call) ----
            tile_groups = tile_groups
                .max(rows / geo.mr)
                .min(geo.row_groups)
                .min((VECLUT_OUT_BYTES / out_per_group).max(1));
            if threads > 1 {
                // At least two work items per thread for balance, split
                // over rows only as far as the token tiles do not already
                // give them (each row split rebuilds the tables once more).
                let token_tiles = batch.div_ceil(token_tile);
                let row_tiles = (2 * threads).div_ceil(token_tiles);
                tile_groups = tile_groups.min(geo.row_groups.div_ceil(row_tiles).max(1));
            }
        } else {
            tile_groups = tile_groups.min((budgets.out / out_per_group).max(1));
        }
        // A slot: a 64-byte header (which token tile its tables hold) and
        // the private tables and scales of a token tile, then the kernel
        // output, then the kernel's own scratch (vector-LUT).
        let (slot_tables, slot_tscale, slot_out) = if private_tables {
            let tables = Region {
                offset: 64,
                stride: line(table_len),
            };
            let tscale = Region {
                offset: tables.offset + token_tile * tables.stride,
                stride: per(spans > 0, 4 * spans),
            };
            (tables, tscale, tscale.offset + token_tile * tscale.stride)
        } else {
            (Region::default(), Region::default(), 0)
        };
        let slot_out_bytes = line(tile_groups * out_per_group);
        let scratch_bytes =
            line(layout.kernel_scratch_bytes(tile_groups * geo.mr, geo.nb, fused, contract));
        let slot_bytes = slot_out + slot_out_bytes + scratch_bytes;
        Plan {
            kernel,
            geo,
            plane_out: w.plane_out,
            fused,
            batch,
            threads,
            token_tile,
            tile_groups,
            row_tiles: geo.row_groups.div_ceil(tile_groups),
            table_len,
            spans,
            private_tables,
            slot_tables,
            slot_tscale,
            slot_out,
            regions,
            slot_bytes,
            scratch_bytes,
            slot_out_bytes,
            slots_offset: token_bytes,
            workspace_bytes: token_bytes + threads * slot_bytes,
        }
    }

    /// Work items of a batch of `nt` tokens: row tiles × token tiles, or
    /// with [`Plan::whole_token_tiles`] one item per token tile.
    pub fn items(&self, nt: usize) -> usize {
        let token_tiles = nt.div_ceil(self.token_tile);
        if self.whole_token_tiles(nt) {
            token_tiles
        } else {
            self.row_tiles * token_tiles
        }
    }

    /// Whether an item is a whole token tile (all row tiles): with private
    /// tables and at least a token tile per worker, so that each token's
    /// tables are built once, by the worker that uses them.
    pub fn whole_token_tiles(&self, nt: usize) -> bool {
        self.private_tables && nt.div_ceil(self.token_tile) >= self.threads
    }
}

/// Row groups per tile: a few tiles per thread when there are rows enough
/// (balance), and, when a batch has several tokens, about `tile_bytes` of
/// weights so a tile stays in L2 while they stream over it.
fn tile_row_groups(geo: &Geometry, threads: usize, tokens: usize, tile_bytes: usize) -> usize {
    if threads <= 1 {
        // One kernel call over all rows: the table kernels reuse each
        // table load across all the row groups of a call, and measured
        // 25% slower with 8-row-group tiles (lut_g4_avx512, 4096 × 4096).
        return if tokens == 1 {
            geo.row_groups
        } else {
            (tile_bytes / geo.row_group_bytes()).clamp(1, geo.row_groups)
        };
    }
    // Tiles per thread: enough for dynamic claiming to rebalance when a
    // core is busy (the machines are shared), few enough to keep calls long.
    let per_thread = if tokens == 1 { 2 } else { 4 };
    let by_balance = geo.row_groups.div_ceil(per_thread * threads).max(1);
    if tokens == 1 {
        return by_balance;
    }
    let by_bytes = (tile_bytes / geo.row_group_bytes()).max(1);
    by_bytes.min(by_balance)
}
