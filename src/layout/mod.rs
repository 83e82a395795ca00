//! Packed weight layouts: each layout's facts (family, bits per weight,
//! padding, table bytes, what it reads from the activations) and its pack
//! function. Nothing outside this module matches on [`Layout`].
//!
//! Every layout groups rows in *row groups* of `mr` rows (m is padded with
//! zero rows to a multiple of `mr`) and pads each scale group of `bl`
//! weights along k with zero weights to `bp`, a multiple of the layout's
//! `kc`, so a kernel never straddles a group boundary and needs no tail
//! loop; the activations are padded the same way (`src/lut`). One row group
//! is `mr · (kp / kc) · chunk_bytes` contiguous bytes (`kp = nb · bp`;
//! `chunk_bytes`: one row's `kc` weights, `kc · bits_per_weight / 8`), and
//! row groups follow each other. The byte order within a row group is the
//! layout's own, documented on its variant.

mod group_scales;
mod pack;
pub(crate) mod trit5;

pub(crate) use group_scales::GroupScales;

use crate::contract::Contract;
use crate::format::{Dequantize, Format};
use crate::kernels::KernelFamily;
use crate::kernels::abi::TableFn;
use crate::lut;

/// A packed weight layout, named by the kernel family that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// Ternary multiply-add (bitnet.cpp I2_S style). Within a row group,
    /// chunk by chunk of `kc` weights, row by row: `kc / 4` bytes where
    /// byte `j` holds `code + 1 ∈ {0, 1, 2}` of the chunk's weights
    /// `j + s · kc/4` in bits `2s..2s+2`, s = 0..4. A shift and a mask give
    /// 4 vectors of consecutive weights, ready for `vpmaddubsw`/`vpdpbusd`;
    /// the kernel subtracts the block's activation sum.
    TernaryMad {
        /// Rows per row group.
        mr: usize,
        /// Padding granularity of a scale group along k.
        kc: usize,
    },
    /// Ternary table lookup with groups of g = 2 weights (bitnet.cpp TL1
    /// style): index `3·(c₀+1) + (c₁+1) ∈ [0, 9)`. Within a row group, for
    /// each 4 weights `p` (two groups), `mr` bytes, one per row: the low
    /// nibble indexes group `2p`, the high nibble group `2p + 1`.
    TernaryLutG2 {
        /// Rows per row group.
        mr: usize,
        /// Padding granularity of a scale group along k.
        kc: usize,
    },
    /// Ternary table lookup with groups of g = 4 weights: index
    /// `27·(c₀+1) + 9·(c₁+1) + 3·(c₂+1) + (c₃+1) ∈ [0, 81)`. Within a row
    /// group, for each group `j`, `mr` bytes, one per row. 128-entry
    /// tables suit AVX-512 VBMI `vpermi2b`.
    TernaryLutG4 {
        /// Rows per row group.
        mr: usize,
        /// Padding granularity of a scale group along k.
        kc: usize,
    },
    /// Ternary vector-LUT (Vec-LUT's 1→N lookup), groups of g = 4 weights:
    /// the byte order of [`Layout::TernaryLutG4`] (index
    /// `27·(c₀+1) + 9·(c₁+1) + 3·(c₂+1) + (c₃+1)`; for each group `j`, `mr`
    /// bytes, one per row), read differently: the kernel builds, per tile of
    /// 32 tokens, one table *row* per pattern holding that pattern's group
    /// sum for every token of the tile, and each index byte adds a whole
    /// row into its weight row's accumulators. With `mr = 64` a K-block of
    /// 8 groups is 512 contiguous index bytes per row group, which the
    /// kernel streams. The tables live in the call's own scratch, not in
    /// the prepared activations: the kernel reads `qpad`.
    TernaryVecLutG4 {
        /// Rows per row group.
        mr: usize,
    },
    /// Ternary multiply-add with five weights per byte: 1.6 bits per
    /// weight, for GEMV streamed from DRAM where bytes are the limit (20%
    /// fewer than [`Layout::TernaryMad`]). The byte encoding (base 3, the
    /// canonical one of a group and its negation, plus a sign bit) is in
    /// `src/layout/trit5.rs`. Steps of `kc = 20` columns; within a row
    /// group, step by step, row by row, 4 bytes per row: byte `j` of row
    /// `r` in step `s` holds the weights of columns `20s + 4i + j`,
    /// `i = 0..5` (its code `c_i`). A 32-bit lane is one row, and digit `i`
    /// of the lanes' 4 bytes meets the 4 consecutive activations
    /// `x[20s + 4i ..][..4]`, so decoding one digit of a vector gives one
    /// `vpdpbusd`/`sdot` operand and rows never need a horizontal
    /// reduction. Codes are `weight + 1`; the kernel subtracts the group's
    /// activation sum. Exact contract only (the Fast and Float contracts
    /// have table layouts).
    TernaryMad5 {
        /// Rows per row group (a multiple of the vector's 32-bit lanes).
        mr: usize,
    },
    /// b-bit multiply-add (b ∈ {2, 4}), rows interleaved so that one 32-bit
    /// lane is one row × 4 consecutive columns (a `vpdpbusd` lane is then a
    /// row's partial sum, no horizontal reduction). Steps of 64 bytes hold
    /// 16 rows × `kc` columns, `kc = 32 / b`. 4-bit: byte `4r + j` holds
    /// `q[r][8s + j]` in its low nibble and `q[r][8s + 4 + j]` in its high
    /// nibble. 2-bit: bits `2f..2f+2` of byte `4r + j` hold
    /// `q[r][16s + 4f + j]`. `mr` is 16.
    IntMad {
        /// Rows per row group (16).
        mr: usize,
    },
    /// 2-bit multiply-add with the four fields of a byte in four rows, for
    /// 2-bit integers (codes `q`) and ternary weights (codes `w + 1`: the
    /// kernel subtracts the group's activation sum): a
    /// byte is 4 weights of one column, not 4 columns of one row. Steps of
    /// `kc = 4` columns; a row group of `mr = 4·L` rows is, step by step,
    /// `mr` bytes where bits `2f..2f+2` of byte `4j + c` (`j < L`, `c < 4`)
    /// hold `q[L·f + j][4s + c]`. A 32-bit lane `j` is then 4 rows × 4
    /// consecutive columns, and each field masked in place is a
    /// `vpdpbusd`/`sdot` operand whose lanes are rows `L·f + j` times `4^f`:
    /// no shift per load and no adds between fields, where
    /// [`Layout::IntMad`] needs a shift per load and an add per group
    /// (x86 has no byte shifts). `mr` is 64.
    MadFieldRows {
        /// Rows per row group (64).
        mr: usize,
    },
    /// b-bit bit-serial table lookup (T-MAC style), g = 4 activations per
    /// 16-entry table, one bit plane at a time; b ∈ 1..=4. Steps of 8
    /// columns; for step `s`, for plane `i < b`, `mr` bytes, one per row:
    /// bit `c` of the low nibble is bit `i` of `q[r][8s + c]`, bit `c` of
    /// the high nibble bit `i` of `q[r][8s + 4 + c]`. Ternary weights (Fast
    /// and Float kernels) are two *signed* planes, `q = w mod 3`: plane 0
    /// holds `w = 1`, plane 1 `w = −1`, with plane scales `s` and `−s`.
    /// Not `q = w + 1` with an
    /// offset: a plane sum would then include activations whose weight is
    /// 0, and cancelling them afterwards breaks the Float bound
    /// (`1e-5 · Σ|x·w|`) where a large activation meets zero weights.
    IntBitLutG4 {
        /// Rows per row group.
        mr: usize,
    },
    /// b-bit integer vector-LUT (b ∈ 1..=4; Vec-LUT's 1→N lookup): one
    /// byte holds the codes of `8 / f` consecutive columns of one row,
    /// `f` = b bits per field (4 for b = 3: 3-bit codes in nibbles), the
    /// code of column `c` in bits `f·c..f·(c+1)`. The kernel builds, per
    /// tile of 32 tokens, 16 table rows per nibble's columns holding
    /// `Σ_c code_c · x_c` for every token of the tile, and each nibble
    /// adds a whole row into its weight row's accumulators: `4 / f` weights
    /// × 32 tokens per add (ternary's [`Layout::TernaryVecLutG4`] does 4).
    /// One row per byte value (256 rows, 16 KiB an index group) measured
    /// 2.2× slower: its tables were read from L2. Steps of `kc = 8`
    /// columns; within a row group, for each index group `j` of `8 / f`
    /// columns, `mr` bytes, one per row. The Exact kernels apply the group
    /// scaling themselves ([`crate::GroupScaling::Fused`]), as the
    /// multiply-add kernels do, in the same order and so with the same
    /// bits. The Float kernels build the rows in f32 from the activations
    /// and the Fast ones re-quantize those to int8 per span (1- and 2-bit
    /// codes only: a 4-bit row `code · x` of one column re-quantized to
    /// int8 keeps ~8 levels of `x`); both leave the group scaling to the
    /// epilogue.
    IntVecLut {
        /// Rows per row group.
        mr: usize,
    },
}

impl Layout {
    /// The kernel family that reads this layout.
    pub fn family(self) -> KernelFamily {
        match self {
            Layout::TernaryMad { .. } | Layout::IntMad { .. } | Layout::MadFieldRows { .. } => {
                KernelFamily::MultiplyAdd
            }
            Layout::TernaryMad5 { .. } => KernelFamily::MultiplyAdd5,
            Layout::TernaryLutG2 { .. } => KernelFamily::LutG2,
            Layout::TernaryLutG4 { .. } => KernelFamily::LutG4,
            Layout::TernaryVecLutG4 { .. } => KernelFamily::VecLutG4,
            Layout::IntVecLut { .. } => KernelFamily::IntVecLut,
            Layout::IntBitLutG4 { .. } => KernelFamily::BitLutG4,
        }
    }

    /// Rows per row group.
    pub fn mr(self) -> usize {
        match self {
            Layout::TernaryMad { mr, .. }
            | Layout::TernaryLutG2 { mr, .. }
            | Layout::TernaryLutG4 { mr, .. }
            | Layout::TernaryVecLutG4 { mr }
            | Layout::TernaryMad5 { mr }
            | Layout::IntMad { mr }
            | Layout::MadFieldRows { mr }
            | Layout::IntVecLut { mr }
            | Layout::IntBitLutG4 { mr } => mr,
        }
    }

    /// Padding granularity of a scale group along k, for `format`.
    pub fn kc(self, format: Format) -> usize {
        match self {
            Layout::TernaryMad { kc, .. }
            | Layout::TernaryLutG2 { kc, .. }
            | Layout::TernaryLutG4 { kc, .. } => kc,
            Layout::TernaryVecLutG4 { .. } => 4,
            Layout::TernaryMad5 { .. } => trit5::STEP,
            Layout::IntMad { .. } => 32 / format.bits() as usize,
            Layout::MadFieldRows { .. } => 4,
            Layout::IntBitLutG4 { .. } | Layout::IntVecLut { .. } => 8,
        }
    }

    /// Whether this layout can hold weights of `format`.
    pub fn supports(self, format: Format) -> bool {
        match self {
            Layout::TernaryMad { .. }
            | Layout::TernaryLutG2 { .. }
            | Layout::TernaryLutG4 { .. }
            | Layout::TernaryVecLutG4 { .. }
            | Layout::TernaryMad5 { .. } => format == Format::Ternary,
            Layout::IntMad { .. } => matches!(format, Format::Int2 | Format::Int4),
            Layout::MadFieldRows { .. } => matches!(format, Format::Int2 | Format::Ternary),
            Layout::IntBitLutG4 { .. } => true,
            Layout::IntVecLut { .. } => format != Format::Ternary,
        }
    }

    /// Whether `format` weights are packed here as two signed bit planes
    /// with plane scales `s` and `−s` (ternary on the bit-serial layout).
    pub(crate) fn ternary_as_signed_planes(self, format: Format) -> bool {
        matches!(self, Layout::IntBitLutG4 { .. }) && format == Format::Ternary
    }

    /// Whether this layout can hold per-bit-plane scales (its kernels can
    /// write one sum per plane).
    pub fn supports_plane_scales(self) -> bool {
        matches!(self, Layout::IntBitLutG4 { .. })
    }

    /// Whether a contract has kernels on this layout: multiply-add is
    /// integer only (Exact); the table layouts serve all three.
    pub fn supports_contract(self, contract: Contract) -> bool {
        match self {
            Layout::TernaryMad { .. }
            | Layout::TernaryMad5 { .. }
            | Layout::IntMad { .. }
            | Layout::MadFieldRows { .. } => contract == Contract::Exact,
            _ => true,
        }
    }

    /// Stored bits per weight (1.6 for [`Layout::TernaryMad5`]).
    pub fn bits_per_weight(self, format: Format) -> f64 {
        (8 * self.chunk_bytes(format)) as f64 / self.kc(format) as f64
    }

    /// Bytes one row's `kc` padded weights occupy (a whole number for
    /// every layout, also where a weight is not a whole number of bits).
    pub(crate) fn chunk_bytes(self, format: Format) -> usize {
        let kc = self.kc(format);
        match self {
            Layout::TernaryMad { .. }
            | Layout::TernaryLutG2 { .. }
            | Layout::TernaryLutG4 { .. }
            | Layout::TernaryVecLutG4 { .. } => kc / 4,
            Layout::TernaryMad5 { .. } => kc / 5,
            Layout::IntMad { .. } | Layout::MadFieldRows { .. } | Layout::IntBitLutG4 { .. } => {
                kc * format.bits() as usize / 8
            }
            Layout::IntVecLut { .. } => kc * int_veclut_field_bits(format) / 8,
        }
    }

    /// Whether this layout's kernels apply the group scales and offsets of
    /// `format` weights themselves (fused group scaling, [`GroupScales`]):
    /// the multiply-add kernels for integer weights, whose lanes are rows,
    /// and the integer vector-LUT, whose int32 sums per row, scale group
    /// and token would otherwise leave the kernel (at groups of 64 over
    /// k = 4096, 64 sums per row and token). Ternary weights keep the
    /// epilogue (one scale per tensor or per block of 256), also on
    /// [`Layout::MadFieldRows`].
    pub(crate) fn fuses_group_scaling(self, format: Format) -> bool {
        matches!(
            self,
            Layout::IntMad { .. } | Layout::MadFieldRows { .. } | Layout::IntVecLut { .. }
        ) && format != Format::Ternary
    }

    /// Whether the kernels read the per-group activation sums (`qsum`).
    pub(crate) fn kernel_reads_block_sums(self) -> bool {
        matches!(
            self,
            Layout::TernaryMad { .. } | Layout::TernaryMad5 { .. } | Layout::MadFieldRows { .. }
        )
    }

    /// Whether the `contract` kernels read the padded int8 activations
    /// directly.
    pub(crate) fn kernel_reads_qpad(self, contract: Contract) -> bool {
        match self {
            Layout::TernaryMad { .. }
            | Layout::TernaryMad5 { .. }
            | Layout::IntMad { .. }
            | Layout::MadFieldRows { .. } => true,
            Layout::TernaryVecLutG4 { .. } | Layout::IntVecLut { .. } => {
                contract == Contract::Exact
            }
            _ => false,
        }
    }

    /// Whether the `contract` kernels read the padded f32 activations
    /// directly (the Fast and Float vector-LUT builds its tables from
    /// them).
    pub(crate) fn kernel_reads_xpad(self, contract: Contract) -> bool {
        matches!(
            self,
            Layout::TernaryVecLutG4 { .. } | Layout::IntVecLut { .. }
        ) && contract != Contract::Exact
    }

    /// Scratch bytes one `contract` kernel call over `rows` rows of `nb`
    /// scale groups needs (0: none): the vector-LUTs build their tables
    /// inside the call. `fused`: the call applies the group scaling itself.
    pub(crate) fn kernel_scratch_bytes(
        self,
        rows: usize,
        nb: usize,
        fused: bool,
        contract: Contract,
    ) -> usize {
        match self {
            Layout::TernaryVecLutG4 { .. } if contract == Contract::Exact => {
                veclut_scratch_bytes(rows, nb)
            }
            Layout::IntVecLut { .. } if contract == Contract::Exact => {
                int_veclut_scratch_bytes(rows, nb, fused)
            }
            Layout::TernaryVecLutG4 { .. } | Layout::IntVecLut { .. } => {
                veclut_f32_scratch_bytes(rows, nb)
            }
            _ => 0,
        }
    }

    /// Tokens the plan should give one kernel call, when the layout has a
    /// preference (the vector-LUT: one table row per token tile).
    pub(crate) fn token_tile(self) -> Option<usize> {
        match self {
            Layout::TernaryVecLutG4 { .. } | Layout::IntVecLut { .. } => Some(VECLUT_TOKENS),
            _ => None,
        }
    }

    /// Rows the plan should give one kernel call when a batch has several
    /// tokens, when the layout has a preference. The vector-LUT builds its
    /// tables once per call and K-block (81 rows of the tile's tokens per 4
    /// columns), so a call should cover many rows to amortize them. At
    /// 4096 × 4096, n = 256, one thread: 2048-row calls 22.1 ms, 4096-row
    /// calls 20.9 ms (the build is ~5% of the kernel); the call's
    /// accumulators (192 B per row, 768 KiB) still fit in L2.
    pub(crate) fn tile_rows(self) -> Option<usize> {
        match self {
            Layout::TernaryVecLutG4 { .. } | Layout::IntVecLut { .. } => Some(4096),
            _ => None,
        }
    }

    /// Table bytes per token for `kp` padded activations (0: no tables).
    pub(crate) fn table_bytes(self, contract: Contract, kp: usize) -> usize {
        match self {
            Layout::TernaryMad { .. }
            | Layout::TernaryMad5 { .. }
            | Layout::IntMad { .. }
            | Layout::MadFieldRows { .. }
            | Layout::TernaryVecLutG4 { .. }
            | Layout::IntVecLut { .. } => 0,
            Layout::TernaryLutG2 { .. } => kp / 2 * lut::ternary_g2::group_bytes(contract),
            Layout::TernaryLutG4 { .. } => kp / 4 * lut::ternary_g4::group_bytes(contract),
            Layout::IntBitLutG4 { .. } => kp / 4 * lut::bit_g4::group_bytes(contract),
        }
    }

    /// The portable table builder for `contract` (None: no tables).
    pub(crate) fn portable_table_builder(self, contract: Contract) -> Option<TableFn> {
        match self {
            Layout::TernaryMad { .. }
            | Layout::TernaryMad5 { .. }
            | Layout::IntMad { .. }
            | Layout::MadFieldRows { .. }
            | Layout::TernaryVecLutG4 { .. }
            | Layout::IntVecLut { .. } => None,
            Layout::TernaryLutG2 { .. } => Some(lut::ternary_g2::builder(contract)),
            Layout::TernaryLutG4 { .. } => Some(lut::ternary_g4::builder(contract)),
            Layout::IntBitLutG4 { .. } => Some(lut::bit_g4::builder(contract)),
        }
    }

    /// Packs `w` into this layout; `out` is `geo.packed_bytes()` long.
    pub(crate) fn pack<W: Dequantize + ?Sized>(self, w: &W, geo: &Geometry, out: &mut [u8]) {
        assert_eq!(out.len(), geo.packed_bytes());
        match self {
            Layout::TernaryMad { kc, .. } => pack::ternary_mad(w, geo, kc, out),
            Layout::TernaryMad5 { .. } => pack::ternary_mad5(w, geo, out),
            Layout::TernaryLutG2 { .. } => pack::ternary_lut_g2(w, geo, out),
            Layout::TernaryLutG4 { .. } | Layout::TernaryVecLutG4 { .. } => {
                pack::ternary_lut_g4(w, geo, out)
            }
            Layout::IntMad { .. } => pack::int_mad(w, geo, out),
            Layout::MadFieldRows { .. } => pack::mad_field_rows(w, geo, out),
            Layout::IntBitLutG4 { .. } => pack::int_bitlut_g4(w, geo, out),
            Layout::IntVecLut { .. } => pack::int_veclut(w, geo, out),
        }
    }
}

/// Tokens per vector-LUT table row (`VECLUT_TOKENS` in
/// `kernels/lutgemm_kernels.h`): 32 int16 = one AVX-512 register.
pub(crate) const VECLUT_TOKENS: usize = 32;
/// Groups of 4 columns per vector-LUT K-block (`VECLUT_KBLOCK`): the
/// tables of one K-block (8 × 81 × 64 B = 41 KiB) are what the lookups
/// hit. AVX-512, 4096 × 4096, n = 256: 4 / 8 / 16 groups 18.9 / 17.1 /
/// 18.0 ms (4 flushes the int16 partial sums twice as often; 32 groups,
/// 162 KiB of tables, measured 20% slower in a standalone harness).
pub(crate) const VECLUT_KBLOCK: usize = 8;
/// Ternary patterns of 4 weights.
const VECLUT_PATTERNS: usize = 81;

/// Scratch bytes of one vector-LUT call over `rows` rows of `nb` scale
/// groups (the C header's `lutgemm_veclut_scratch_bytes`): the K-block's
/// activations transposed to `[column][token]` int16, its tables, per row
/// `VECLUT_TOKENS` int16 partial sums, and per row and scale group
/// `VECLUT_TOKENS` int32 sums.
pub(crate) fn veclut_scratch_bytes(rows: usize, nb: usize) -> usize {
    let xt = VECLUT_KBLOCK * 4 * VECLUT_TOKENS * 2;
    let tables = VECLUT_KBLOCK * VECLUT_PATTERNS * VECLUT_TOKENS * 2;
    xt + tables + rows * VECLUT_TOKENS * (2 + 4 * nb)
}

/// Groups of 4 columns of the Float and Fast vector-LUT's span
/// (`VLF_SPAN_GROUPS`): a span of at most 64 columns is one K-block, so
/// its sums stay in registers (16 × 81 rows of 32 f32 tokens, 166 KiB of
/// tables, read from L2). 4096 × 4096, n = 256, AVX-512: K-blocks of 1 /
/// 2 / 4 / 8 / 16 groups 145 / 115 / 64 / 52 / 52 ms (before whole-tile
/// batches): the span sums streaming through L1 between K-blocks cost more
/// than the tables' L2 reads.
pub(crate) const VECLUT_SPAN_GROUPS: usize = 16;

/// Scratch bytes of one Float or Fast vector-LUT call (the C header's
/// `lutgemm_veclut_f32_scratch_bytes`): a span's activations transposed to
/// `[column][token]` f32, its tables (81 rows of `VECLUT_TOKENS` f32 a
/// group; integer codes: 32 rows an index byte, at most 32 bytes a span,
/// which fit), the same rows as int8 and the tokens' span scales (Fast),
/// then per row and scale group `VECLUT_TOKENS` f32 group sums.
pub(crate) fn veclut_f32_scratch_bytes(rows: usize, nb: usize) -> usize {
    let xt = VECLUT_SPAN_GROUPS * 4 * VECLUT_TOKENS * 4;
    let tables = VECLUT_SPAN_GROUPS * VECLUT_PATTERNS * VECLUT_TOKENS * 4;
    let t8 = VECLUT_SPAN_GROUPS * VECLUT_PATTERNS * VECLUT_TOKENS;
    xt + tables + t8 + VECLUT_TOKENS * 4 + rows * VECLUT_TOKENS * 4 * nb
}

/// Bits per code field of an [`Layout::IntVecLut`] index byte: b, but 4
/// for 3-bit codes (two nibbles a byte, the 4-bit table shape).
pub(crate) fn int_veclut_field_bits(format: Format) -> usize {
    match format.bits() {
        3 => 4,
        b => b as usize,
    }
}

/// Index groups (bytes a row) per integer vector-LUT K-block
/// (`IVL_KBLOCK`): 4 × 256 × 64 B = 64 KiB of tables.
pub(crate) const INT_VECLUT_KBLOCK: usize = 8;

/// Scratch bytes of one integer vector-LUT call over `rows` rows of `nb`
/// scale groups (the C header's `lutgemm_int_veclut_scratch_bytes`): the
/// K-block's activations transposed to `[column][token]` int16 (at most 8
/// columns an index group), its tables (2 × 16 rows of `VECLUT_TOKENS`
/// int16 an index group), the scale group's activation sums of the tile's
/// tokens (`VECLUT_TOKENS` int32, read for offsets or a zero point), then
/// per row `VECLUT_TOKENS` int16 partial sums and `VECLUT_TOKENS` int32 sums
/// per scale group, or, fused, one int32 sum and one f32 accumulator.
pub(crate) fn int_veclut_scratch_bytes(rows: usize, nb: usize, fused: bool) -> usize {
    let xt = INT_VECLUT_KBLOCK * 8 * VECLUT_TOKENS * 2;
    let tables = INT_VECLUT_KBLOCK * 32 * VECLUT_TOKENS * 2;
    let qsums = VECLUT_TOKENS * 4;
    let sums = if fused { 2 } else { nb };
    xt + tables + qsums + rows * VECLUT_TOKENS * (2 + 4 * sums)
}

/// Activations per Fast-contract table scale (DESIGN.md §3: at most 64;
/// one scale per whole row measured ~50× worse NMSE on outliers).
pub(crate) const FAST_SPAN: usize = 64;

/// Sizes derived from (m, k, group length, layout, format, contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Rows of `W`.
    pub m: usize,
    /// Columns of `W`.
    pub k: usize,
    /// Rows per row group.
    pub mr: usize,
    /// Padding granularity along k.
    pub kc: usize,
    /// Row groups (m padded up to a multiple of `mr`, divided by `mr`).
    pub row_groups: usize,
    /// Scale group length along k.
    pub bl: usize,
    /// Scale groups per row.
    pub nb: usize,
    /// Padded group length (multiple of `kc`; of [`FAST_SPAN`] too when
    /// longer than it, so Fast-contract spans never straddle groups).
    pub bp: usize,
    /// Padded row length, `nb · bp`.
    pub kp: usize,
    /// Bytes of one row's `kc` padded weights.
    pub chunk_bytes: usize,
    /// Weight bits (bit planes) the kernels see.
    pub bits: usize,
    /// Activations per table scale (Fast contract; else `bp`).
    pub span: usize,
}

impl Geometry {
    pub fn new(
        m: usize,
        k: usize,
        bl: usize,
        layout: Layout,
        format: Format,
        contract: Contract,
    ) -> Geometry {
        let mr = layout.mr();
        let kc = layout.kc(format);
        let mut bp = bl.next_multiple_of(kc);
        let span = if contract == Contract::Exact {
            bp
        } else {
            if bp > FAST_SPAN {
                bp = bp.next_multiple_of(FAST_SPAN);
            }
            bp.min(FAST_SPAN)
        };
        let nb = k / bl;
        Geometry {
            m,
            k,
            mr,
            kc,
            row_groups: m.div_ceil(mr),
            bl,
            nb,
            bp,
            kp: nb * bp,
            chunk_bytes: layout.chunk_bytes(format),
            bits: format.bits() as usize,
            span,
        }
    }

    /// Bytes of one packed row group.
    pub fn row_group_bytes(&self) -> usize {
        self.mr * (self.kp / self.kc) * self.chunk_bytes
    }

    /// Bytes of the whole packed matrix.
    pub fn packed_bytes(&self) -> usize {
        self.row_groups * self.row_group_bytes()
    }

    /// Column of `W` at padded position `p`, or `None` for padding.
    #[inline]
    pub fn column(&self, p: usize) -> Option<usize> {
        let (b, off) = (p / self.bp, p % self.bp);
        (off < self.bl).then_some(b * self.bl + off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_pads_groups_and_rows() {
        let l = Layout::TernaryMad { mr: 8, kc: 128 };
        let g = Geometry::new(10, 300, 100, l, Format::Ternary, Contract::Exact);
        assert_eq!((g.row_groups, g.nb, g.bp, g.kp), (2, 3, 128, 384));
        assert_eq!(g.column(0), Some(0));
        assert_eq!(g.column(99), Some(99));
        assert_eq!(g.column(100), None);
        assert_eq!(g.column(128), Some(100));
        assert_eq!(g.packed_bytes(), 2 * 8 * 384 / 4);
    }

    #[test]
    fn five_weights_per_byte_geometry() {
        let l = Layout::TernaryMad5 { mr: 64 };
        assert_eq!(l.bits_per_weight(Format::Ternary), 1.6);
        let g = Geometry::new(100, 4096, 4096, l, Format::Ternary, Contract::Exact);
        assert_eq!((g.row_groups, g.bp, g.kp), (2, 4100, 4100));
        assert_eq!(g.row_group_bytes(), 64 * 4100 / 5);
        assert_eq!(
            Layout::TernaryMad { mr: 8, kc: 256 }.bits_per_weight(Format::Ternary),
            2.0
        );
        assert_eq!(Layout::IntMad { mr: 16 }.bits_per_weight(Format::Int4), 4.0);
    }

    #[test]
    fn fast_spans_never_straddle_groups() {
        let l = Layout::IntBitLutG4 { mr: 64 };
        for (k, bl) in [(4100, 4100), (96, 32), (200, 100), (64, 16)] {
            let g = Geometry::new(3, k, bl, l, Format::Int3, Contract::Fast);
            assert_eq!(g.bp % g.span, 0, "k {k} bl {bl}");
            assert!(g.span <= FAST_SPAN && g.bp >= g.bl);
        }
    }
}
