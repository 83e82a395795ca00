//! Kernel selection: a table keyed by (format, contract, ISA, token range),
//! each row a preference order of families and the measurement behind it;
//! the first family with a compiled kernel wins, and with none the portable
//! kernel of the same (format, contract) runs. `describe()` shows the
//! reason. Weights are packed for one kernel, so the choice is made at pack
//! time from the caller's typical token count (`PackOptions::tokens`).
//!
//! Measurements: the quick bench (`cargo run --release --example bench`,
//! one thread, end to end) on an AMD EPYC Zen 4 (family 19h) VM, 2026-11.
//! Ternary (4096 × 4096; all 11 shapes of DESIGN.md §1 agree within the
//! shared machine's ±16% noise): avx512 mad 88.7 µs vs lut_g4 88.1 at
//! n = 1, mad as fast or up to 30% faster at n = 8 and 256, ~2× faster on
//! 4096 × 14336; avx2 mad 141 vs lut_g2 172 µs; scalar lut_g4 2–2.8× faster
//! than the portable mad. Since 2026-11-29 the AVX-512 multiply-add is the
//! field-rows kernel (`mad_fr_avx512`, `Layout::MadFieldRows`): 79.9 µs at
//! n = 1, 607 vs 713 µs at n = 8, 413 vs 358 GOP/s at n = 256 against the
//! row-chunk `mad_avx512` (one quick-bench run). Integer weights: see the
//! rows' reasons.
//!
//! Weights streamed from DRAM (ternary, Exact): when the 2-bit packing
//! (`m · k / 4` bytes) is larger than the last-level cache (sysfs, read
//! once: `src/cache.rs`), a GEMV is bound by bytes, and at n = 1 the AVX-512
//! row takes `mad5` (five weights per byte, 1.6 bits). Measured at
//! 65536 × 4096, n = 1, one thread (details in kernels/x86/avx512_mad5.c):
//! mad5_avx512 2390–2590 µs in every run (compute-bound at ~115 G
//! weights/s), mad_avx512 2330–3470 µs (it follows the DRAM bandwidth
//! other jobs leave, 19–29 GB/s): 0.96–1.38×, median 1.09× (quick bench)
//! and 1.18× (`examples/ab`, kernels alternating, caches evicted); with 2
//! threads, both memory-bound, 1.25×. On a quiet machine (no other job
//! reading DRAM; the quick bench, 2026-11-29, three runs each) one thread
//! of mad_avx512 reads 29–32 GB/s and beats mad5 (2074–2304 against
//! 2384–2412 µs: mad5 0.87–0.96×), while two threads, both memory-bound,
//! give mad5 1.11–1.21× (1194–1283 against 1328–1549 µs). The row stays:
//! a DRAM-sized GEMV is run on every core in practice, and a machine's
//! DRAM is rarely the process's alone. At n = 2–8 from DRAM 0.97–1.35× (both
//! compute-bound): the row stays at n = 1 ([`DRAM_TOKENS`]). From cache
//! mad5 is 0.61× at n = 1, so the size test matters. No such row for AVX2
//! (`mad5_avx2` decodes by arithmetic: 0.25–0.42× of `mad_avx2`, also from
//! DRAM) nor Arm (not measured; 2.4× the instructions per weight of the
//! 2-bit kernel). The size test judges one matrix: in a model whose layers
//! evict each other every weight streams from DRAM (4096 × 4096 with the
//! caches evicted: mad5 1.02–1.05×), which a caller who knows can force
//! with `PackOptions::family`.

use crate::cache::CacheSizes;
use crate::contract::Contract;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::isa::Isa;
use crate::kernels::{self, KernelDesc, KernelFamily};
use std::ops::RangeInclusive;

use Contract::*;
use KernelFamily::*;

/// One row of the selection table.
struct Rule {
    /// The weight formats the row is for.
    formats: &'static [Format],
    contract: Contract,
    isa: Isa,
    tokens: RangeInclusive<usize>,
    /// Which weight sizes the row is for.
    weights: Residency,
    order: &'static [KernelFamily],
    why: &'static str,
}

/// Where a GEMV finds the weights, judged from their size alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Residency {
    /// Any size.
    Any,
    /// Ternary weights whose 2-bit packing (`m · k / 4` bytes) is larger
    /// than the last-level cache: each call streams them from DRAM, and
    /// bytes, not instructions, set the time.
    Dram,
}

use Residency::*;

const ANY_N: RangeInclusive<usize> = 1..=usize::MAX;
/// Rows for ternary weights.
const TERNARY_W: &[Format] = &[Format::Ternary];
/// Rows for every b-bit integer format.
const INTS: &[Format] = &[Format::Int1, Format::Int2, Format::Int3, Format::Int4];

const VECLUT_AVX512: &str = "avx512/exact, many tokens: the vector-LUT (one 64-byte table row \
     per index byte, 4 weights x 32 tokens) runs a full 32-token tile in 0.85x the time of \
     the field-rows VNNI multiply-add (4096x4096: 2125 vs 2495 us at n = 32, 6366 vs 7654 us \
     at n = 96); taken where whole tiles win (src/select.rs)";
const VECLUT_AVX2: &str = "avx2/exact, many tokens: the vector-LUT runs a full 32-token tile in \
     0.72-0.80x the time of vpmaddubsw multiply-add (4096x4096: 3594 vs 4515 us at n = 32, \
     16466 vs 22849 us at n = 160); taken where whole tiles win (src/select.rs)";
/// Token counts for which the five-weights-per-byte layout beats the 2-bit
/// one on DRAM-streamed weights (see the module doc: a median 1.09–1.18×
/// at n = 1; at n ≥ 2 both kernels are compute-bound and within noise).
const DRAM_TOKENS: RangeInclusive<usize> = 1..=1;

/// A ternary Exact row that prefers the vector-LUT over multiply-add.
const fn veclut_rule(isa: Isa, tokens: RangeInclusive<usize>, why: &'static str) -> Rule {
    Rule {
        formats: TERNARY_W,
        contract: Exact,
        isa,
        tokens,
        weights: Any,
        order: &[VecLutG4, MultiplyAdd],
        why,
    }
}

/// A ternary Fast or Float row: the vector-LUT first for `tokens`
/// (prefill), else (`ANY_N`, after those rows) the bit-serial tables.
const fn f32_rule(
    contract: Contract,
    isa: Isa,
    tokens: RangeInclusive<usize>,
    why: &'static str,
) -> Rule {
    let vector_lut = *tokens.start() > 1;
    Rule {
        formats: TERNARY_W,
        contract,
        isa,
        tokens,
        weights: Any,
        order: if vector_lut {
            &[VecLutG4, BitLutG4]
        } else {
            &[BitLutG4, VecLutG4]
        },
        why,
    }
}

const FAST_AVX2: &str = "avx2/fast, many tokens: the Fast vector-LUT runs a 32-token tile in \
                         the time of ~23 tokens of bit-serial tables (4096x4096: 1.34x at n = \
                         256) (src/select.rs)";

const RULES: &[Rule] = &[
    // ---- vector-LUT rows (veclut_g4) ----
    // A vector-LUT call costs the same for 1..=32 tokens (one tile), so it
    // wins over the per-token multiply-add for n in (r·32q, 32q] with q =
    // ceil(n / 32) tiles and r its time for a full tile relative to mad's
    // for 32 tokens. One thread, 4096 × 4096, end to end: avx512 against
    // the field-rows multiply-add (mad_fr_avx512; quick bench, one run,
    // 2026-11-29) n = 24 / 28 / 32 / 40 / 48 / 56 / 64 / 72 / 96: veclut
    // 2004 / 2063 / 2125 / 4094 / 4148 / 4153 / 4178 / 6165 / 6366 us,
    // mad_fr 1852 / 2150 / 2495 / 3195 / 3826 / 4478 / 5046 / 5734 / 7654
    // us (r = 0.85: veclut from n > 27.2 per tile, i.e. 28-32, 55-64,
    // 82-96, 109-128, 137-160, and from 164 on every n, where a partial
    // tile no longer costs more than mad's tokens); avx2 n = 24 / 32 / 40 / 48 / 64 / 160:
    // veclut 3299 / 3594 / 6876 / 6374 / 6648 / 16466 us, mad 3393 / 4515 /
    // 5612 / 6746 / 9043 / 22849 us (r = 0.72-0.80).
    veclut_rule(Isa::Avx512, 28..=32, VECLUT_AVX512),
    veclut_rule(Isa::Avx512, 55..=64, VECLUT_AVX512),
    veclut_rule(Isa::Avx512, 82..=96, VECLUT_AVX512),
    veclut_rule(Isa::Avx512, 109..=128, VECLUT_AVX512),
    veclut_rule(Isa::Avx512, 137..=160, VECLUT_AVX512),
    veclut_rule(Isa::Avx512, 164..=usize::MAX, VECLUT_AVX512),
    veclut_rule(Isa::Avx2, 26..=32, VECLUT_AVX2),
    veclut_rule(Isa::Avx2, 48..=64, VECLUT_AVX2),
    veclut_rule(Isa::Avx2, 71..=usize::MAX, VECLUT_AVX2),
    Rule {
        formats: TERNARY_W,
        contract: Exact,
        isa: Isa::Neon,
        tokens: 32..=usize::MAX,
        weights: Any,
        order: &[VecLutG4, LutG2],
        why: "neon/exact, n >= 32: chosen by instruction count, not by time (vector-LUT \
              inner loop 45 instructions per 4 rows x 4 weights x 32 tokens, ~88 per 1,000 \
              token-weights, vs 229 per 1,000 weights and token for lut_g2) (src/select.rs)",
    },
    // ---- end of vector-LUT rows ----
    Rule {
        formats: TERNARY_W,
        contract: Exact,
        isa: Isa::Avx512,
        tokens: DRAM_TOKENS,
        weights: Dram,
        order: &[MultiplyAdd5, MultiplyAdd, LutG4, LutG2],
        why: "avx512/exact, 2-bit weights larger than the last-level cache: five weights per \
              byte stream 20% fewer bytes from DRAM (65536x4096, n = 1: mad5 1.11-1.25x mad \
              on 2 threads; one thread 1.09-1.18x with DRAM shared, 0.87-0.96x on a quiet \
              machine; src/select.rs)",
    },
    Rule {
        formats: TERNARY_W,
        contract: Exact,
        isa: Isa::Avx512,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, LutG4, LutG2],
        why: "avx512/exact: VNNI multiply-add on the field-rows layout (mad_fr) beats \
              lut_g4 at n = 1 (79.9 vs 87.4 us, 4096x4096) and by 1.15-1.2x at n >= 8 \
              (src/select.rs)",
    },
    Rule {
        formats: TERNARY_W,
        contract: Exact,
        isa: Isa::Avx2,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, LutG2],
        why: "avx2/exact: vpmaddubsw multiply-add is 15-30% faster than lut_g2 on every \
              shape (src/select.rs)",
    },
    Rule {
        formats: TERNARY_W,
        contract: Exact,
        isa: Isa::Scalar,
        tokens: ANY_N,
        weights: Any,
        order: &[LutG4, LutG2, MultiplyAdd],
        why: "scalar/exact: lut_g4 does four weights per lookup, 2-2.8x faster than the \
              portable multiply-add (src/select.rs)",
    },
    // 1-bit codes have no multiply-add kernel; the integer vector-LUT costs
    // the same for 1 to 32 tokens of a tile (quick bench, one thread,
    // 4096 x 4096, groups of 64, 2026-11-29, f16 scales converted by F16C:
    // n = 8 / 16 / 32 / 256: veclut_int 3032 / 2917 / 3517 / 25344 us,
    // bitlut_g4 1668 / 3370 / 6846 / 55053 us). 3-bit codes take a nibble
    // each (one column a lookup): 0.96x at n = 256; 2 and 4 bits:
    // multiply-add is faster (int2 g64 0.51x, int4 g32 0.26x at n = 256).
    Rule {
        formats: &[Format::Int1],
        contract: Exact,
        isa: Isa::Avx512,
        tokens: 16..=usize::MAX,
        weights: Any,
        order: &[IntVecLut, BitLutG4],
        why: "avx512/exact int1, n >= 16: the integer vector-LUT (a byte of 8 codes, two \
              16-row tables of 32 tokens) runs a 32-token tile in 3.5 ms at 4096x4096, groups \
              of 64, against 6.8 ms for the bit-serial tables (339 vs 156 GOP/s at n = 256) \
              (src/select.rs)",
    },
    Rule {
        formats: INTS,
        contract: Exact,
        isa: Isa::Avx512,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "avx512/exact int: VNNI multiply-add on row-interleaved codes beats the \
              bit-serial tables (one lookup per bit plane) for 2 and 4 bits; at 2 bits the \
              field-rows layout (a byte's four fields are four rows: 3 masks per load, no \
              shift) takes 93 vs 114 us at 4096x4096, groups of 64, n = 1 (src/select.rs)",
    },
    Rule {
        formats: INTS,
        contract: Exact,
        isa: Isa::Avx2,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "avx2/exact int: vpmaddubsw multiply-add on row-interleaved codes beats the \
              bit-serial tables for 2 and 4 bits (src/select.rs)",
    },
    Rule {
        formats: INTS,
        contract: Exact,
        isa: Isa::Scalar,
        tokens: ANY_N,
        weights: Any,
        order: &[BitLutG4, MultiplyAdd],
        why: "scalar/exact int: one table lookup per 4 weights and plane (src/select.rs)",
    },
    // aarch64: chosen by instruction count per 1,000 weights from the
    // disassembly (kernels/arm/*.c), not by time: no Arm hardware has been
    // measured yet.
    Rule {
        formats: TERNARY_W,
        contract: Exact,
        isa: Isa::Neon,
        tokens: ANY_N,
        weights: Any,
        order: &[LutG2, LutG4, MultiplyAdd],
        why: "neon/exact: chosen by instruction count, not by time (per 1,000 weights, whole \
              calls at n = 1: lut_g2 229 with single-register tbl, lut_g4 236 with multi-uop \
              4-register tbl, mad 236) (src/select.rs)",
    },
    Rule {
        formats: INTS,
        contract: Exact,
        isa: Isa::Neon,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "neon/exact int: chosen by instruction count, not by time (per 1,000 4-bit \
              weights at n = 1: widening multiply-add 237, bit-serial tables 445) (src/select.rs)",
    },
    Rule {
        formats: TERNARY_W,
        contract: Exact,
        isa: Isa::Dotprod,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, LutG4, LutG2],
        why: "dotprod/exact: chosen by instruction count, not by time (sdot multiply-add \
              164 instructions per 1,000 weights at n = 1) (src/select.rs)",
    },
    Rule {
        formats: INTS,
        contract: Exact,
        isa: Isa::I8mm,
        tokens: 2..=usize::MAX,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "i8mm/exact int, n >= 2: chosen by instruction count, not by time (smmla 80 \
              instructions per 1,000 token-weights at 4 tokens vs 90 with sdot) (src/select.rs)",
    },
    Rule {
        formats: INTS,
        contract: Exact,
        isa: Isa::Dotprod,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "dotprod/exact int: chosen by instruction count, not by time (sdot multiply-add \
              156 instructions per 1,000 4-bit weights at n = 1) (src/select.rs)",
    },
    // Ternary Float, many tokens: the Float vector-LUT (f32 rows of 32
    // tokens; kernels/veclut_float.h), which costs the same for 1 to 32
    // tokens of a tile. 4096 x 4096, one thread, 2026-11-29, n = 16 / 32 /
    // 64 / 256: avx512 veclut 5362 / 5555 / 11476 / 47070 us against
    // bitlut_g4 5279 / 10527 / 21375 / 86992; avx2 veclut 5339 / 5508 /
    // 10913 / 44357 against 10948 / 21824 / 45758 / 177644. A tile costs
    // as much as ~17 tokens of bitlut_g4 on avx512 and ~8 on avx2, so
    // from 20 and 12 tokens on, whole or partial tiles, it is faster. Its
    // tables (166 KiB a span of 64 columns) stream from L2: ~5 cycles a
    // lookup, where the int16 Exact kernel takes ~1.8.
    f32_rule(
        Float,
        Isa::Avx512,
        20..=usize::MAX,
        "avx512/float, n >= 20: the Float vector-LUT, 1.85x the bit-serial tables at \
         4096x4096, n = 256 (47.1 vs 87.0 ms; one 32-token tile costs ~17 tokens of \
         bit-serial tables) (src/select.rs)",
    ),
    f32_rule(
        Float,
        Isa::Avx2,
        12..=usize::MAX,
        "avx2/float, n >= 12: the Float vector-LUT, 2.1x the bit-serial tables at \
         4096x4096, n = 16 and 4.0x at n = 256 (src/select.rs)",
    ),
    // Ternary Fast, many tokens: the Fast vector-LUT (the Float rows
    // re-quantized to int8 per span and token). 4096 x 4096, one thread,
    // 2026-11-29, n = 16 / 24 / 32 / 48 / 256: avx512 veclut 3096 / 3335 /
    // 3385 / 6711 / 27157 us against bitlut_g4 2947 / 4444 / 6040 / 8981 /
    // 47471; avx2 veclut 6050 / 6230 / 6265 / 12231 / 51263 against 4316 /
    // 6428 / 8624 / 12700 / 68953. A tile costs ~16 tokens of bitlut_g4 on
    // avx512, ~23 on avx2: avx2 takes it only where the last tile is full
    // enough (23-32, 45-64, and from 68 every count).
    f32_rule(
        Fast,
        Isa::Avx512,
        17..=usize::MAX,
        "avx512/fast, n >= 17: the Fast vector-LUT (int8 rows of 32 tokens), 1.75x the \
         bit-serial tables at 4096x4096, n = 256 (27.2 vs 47.5 ms; one tile costs ~16 \
         tokens of bit-serial tables) (src/select.rs)",
    ),
    f32_rule(Fast, Isa::Avx2, 23..=32, FAST_AVX2),
    f32_rule(Fast, Isa::Avx2, 45..=64, FAST_AVX2),
    f32_rule(Fast, Isa::Avx2, 68..=usize::MAX, FAST_AVX2),
    // aarch64, by instruction count from the disassembly (no Arm hardware
    // measured): the NEON Fast lookup loop is 45 instructions per 4 rows x
    // 4 weights x 32 tokens (88 per 1,000 token-weights; the widening made
    // one sxtl per 8 bytes), the Float one 37 per 2 rows (145), against
    // ~170 and ~600 per 1,000 weights and token for the bit-serial Fast
    // and Float kernels on two planes (kernels/arm/neon.c counts).
    f32_rule(
        Fast,
        Isa::Neon,
        20..=usize::MAX,
        "neon/fast, n >= 20: chosen by instruction count, not by time (vector-LUT 88 \
         per 1,000 token-weights vs ~170 for the bit-serial tables) (src/select.rs)",
    ),
    f32_rule(
        Float,
        Isa::Neon,
        8..=usize::MAX,
        "neon/float, n >= 8: chosen by instruction count, not by time (vector-LUT 145 \
         per 1,000 token-weights vs ~600 for the bit-serial tables) (src/select.rs)",
    ),
    // Ternary Fast and Float below those counts: the bit-serial kernels,
    // which run ternary weights as two signed bit planes (4096 x 4096, one
    // thread, 2026-11-29, n = 1 / 8 / 256: avx512 fast 199 / 1463 / 49755
    // us, float 334 / 2643 / 85169 us; avx2 fast 257 / 2154 / 67802, float
    // 673 / 5463 / 175252; the portable lut_g4 fast 3513 / 28189, float
    // 3616 / 30564 at n = 1 / 8).
    f32_rule(
        Fast,
        Isa::Avx512,
        ANY_N,
        "avx512/fast, few tokens: the bit-serial tables on two signed planes, 199 us at \
         4096x4096, n = 1 (the portable lut_g4: 3513) (src/select.rs)",
    ),
    f32_rule(
        Float,
        Isa::Avx512,
        ANY_N,
        "avx512/float, few tokens: the bit-serial tables on two signed planes, 334 us at \
         4096x4096, n = 1 (the portable lut_g4: 3616) (src/select.rs)",
    ),
    f32_rule(
        Fast,
        Isa::Avx2,
        ANY_N,
        "avx2/fast, few tokens: the bit-serial tables on two signed planes, 257 us at \
         4096x4096, n = 1 (src/select.rs)",
    ),
    f32_rule(
        Float,
        Isa::Avx2,
        ANY_N,
        "avx2/float, few tokens: the bit-serial tables on two signed planes, 673 us at \
         4096x4096, n = 1 (src/select.rs)",
    ),
    Rule {
        formats: TERNARY_W,
        contract: Fast,
        isa: Isa::Scalar,
        tokens: ANY_N,
        weights: Any,
        order: &[LutG4, LutG2],
        why: "scalar/fast: lut_g4 does four weights per lookup (src/select.rs)",
    },
    Rule {
        formats: TERNARY_W,
        contract: Float,
        isa: Isa::Scalar,
        tokens: ANY_N,
        weights: Any,
        order: &[LutG4, LutG2],
        why: "scalar/float: lut_g4 does four weights per lookup (src/select.rs)",
    },
    // Integer Fast and Float: the bit-serial tables at every n measured.
    // The integer vector-LUT (kernels/veclut_float.h, nibble rows of 32
    // tokens) writes every scale group's sum of every row and token out
    // of the kernel (64 a row at groups of 64) and was slower everywhere:
    // quick bench, one thread, 4096 x 4096, 2026-11-30, n = 8 / 32 / 256,
    // groups of 64, avx512: int1 Fast bitlut 1117 / 4516 / 36861 us,
    // veclut 9388 / 9115 / 75080; int1 Float 1674 / 6914 / 55176 against
    // 9355 / 9969 / 78685; int2 Fast 1404 / 5678 / 46088 against 10512 /
    // 11912 / 95526; int2 Float 2576 / 10472 / 86454 against 14865 /
    // 15663 / 121021; avx2 int1 Fast 46905 against 145268, int2 Float
    // 174010 against 166258 at n = 256 (within the noise; 5374 against
    // 16386 at n = 8). Whole-row scales (one sum a row), n = 256, avx512:
    // int1 Fast 19348 against 26642, int1 Float 36372 against 39857, int4
    // Float 121374 against 157367.
    int_table_rule(
        Fast,
        Isa::Avx512,
        "avx512/fast int: the bit-serial tables; the integer vector-LUT measured 0.49x at \
         4096x4096, groups of 64, n = 256 (36.9 vs 75.1 ms, int1) (src/select.rs)",
    ),
    int_table_rule(
        Float,
        Isa::Avx512,
        "avx512/float int: the bit-serial tables; the integer vector-LUT measured 0.70x at \
         4096x4096, groups of 64, n = 256 (55.2 vs 78.7 ms, int1) (src/select.rs)",
    ),
    int_table_rule(
        Fast,
        Isa::Avx2,
        "avx2/fast int: the bit-serial tables; the integer vector-LUT measured 0.32x at \
         4096x4096, groups of 64, n = 256 (46.9 vs 145.3 ms, int1) (src/select.rs)",
    ),
    int_table_rule(
        Float,
        Isa::Avx2,
        "avx2/float int: the bit-serial tables; the integer vector-LUT measured 0.80x (int1) \
         to 1.05x (int2, within the noise) at 4096x4096, groups of 64, n = 256 (src/select.rs)",
    ),
    int_table_rule(
        Fast,
        Isa::Neon,
        "neon/fast int: the bit-serial tables, as on x86, where the integer vector-LUT \
         measured 0.32-0.49x (not measured on Arm) (src/select.rs)",
    ),
    int_table_rule(
        Float,
        Isa::Neon,
        "neon/float int: the bit-serial tables, as on x86, where the integer vector-LUT \
         measured 0.70-0.80x (not measured on Arm) (src/select.rs)",
    ),
    int_table_rule(
        Fast,
        Isa::Scalar,
        "scalar/fast int: one table lookup per 4 weights and plane (src/select.rs)",
    ),
    int_table_rule(
        Float,
        Isa::Scalar,
        "scalar/float int: one table lookup per 4 weights and plane (src/select.rs)",
    ),
];

/// An integer Fast or Float row: the bit-serial tables, then the integer
/// vector-LUT.
const fn int_table_rule(contract: Contract, isa: Isa, why: &'static str) -> Rule {
    Rule {
        formats: INTS,
        contract,
        isa,
        tokens: ANY_N,
        weights: Any,
        order: &[BitLutG4, IntVecLut],
        why,
    }
}

/// Most padding a rule's family may add to each scale group before the
/// next family in the rule's order is preferred: a layout pads every group
/// to its `kc` (256 for the AVX-512 ternary multiply-add), and with groups
/// of 32 that kernel did 8× the work (4096 × 4096, n = 1: 2152 µs against
/// 748 µs for lut_g4, whose kc is 4).
const MAX_PADDING: f64 = 1.25;

const PADDING_WHY: &str = "the rule's first families pad each scale group by more than 25% \
                           (to their kc): the next family of its order (src/select.rs)";

/// Picks the kernel for `m × k` weights of `format` with scale groups of
/// `group` columns under `contract` on `isa` for calls of about `tokens`
/// tokens, with the reason.
pub(crate) fn select(
    format: Format,
    contract: Contract,
    isa: Isa,
    tokens: usize,
    plane_scales: bool,
    group: usize,
    (m, k): (usize, usize),
) -> Result<(&'static KernelDesc, &'static str)> {
    let dram = m.saturating_mul(k) / 4 > CacheSizes::get().l3;
    select_for(format, contract, isa, tokens, plane_scales, group, dram)
}

/// [`select`], given whether the weights stream from DRAM.
fn select_for(
    format: Format,
    contract: Contract,
    isa: Isa,
    tokens: usize,
    plane_scales: bool,
    group: usize,
    dram: bool,
) -> Result<(&'static KernelDesc, &'static str)> {
    let usable = |k: &KernelDesc| !plane_scales || k.layout.supports_plane_scales();
    let padding = |k: &KernelDesc| {
        let kc = k.layout.kc(format);
        group.next_multiple_of(kc) as f64 / group.max(1) as f64
    };
    let ternary = format == Format::Ternary;
    let residency = |w: Residency| w == Any || (w == Dram && dram && ternary);
    // A rule's pick on `isa`: its first family with a kernel there, or
    // with `lean`, its first family that pads groups by at most
    // MAX_PADDING (with the padding reason when that is not the first).
    let by_rules = |isa: Isa, lean: bool| {
        RULES
            .iter()
            .filter(|r| {
                r.formats.contains(&format)
                    && r.contract == contract
                    && r.isa == isa
                    && r.tokens.contains(&tokens)
                    && residency(r.weights)
            })
            .find_map(|rule| {
                let pick = |lean: bool| {
                    rule.order.iter().find_map(|&family| {
                        kernels::find(family, format, contract, isa)
                            .filter(|k| usable(k) && (!lean || padding(k) <= MAX_PADDING))
                    })
                };
                let first = pick(false)?;
                if !lean {
                    return Some((first, rule.why));
                }
                let k = pick(true)?;
                Some((
                    k,
                    if k.name == first.name {
                        rule.why
                    } else {
                        PADDING_WHY
                    },
                ))
            })
    };
    let any_of = |isa: Isa| {
        kernels::all()
            .find(|k| k.isa == isa && k.supports(format) && k.contract == contract && usable(k))
    };
    // First a rule's family that does not pad the groups much, on this ISA
    // level or one it includes (dotprod → neon: lut_g4 on 32-column groups
    // beats sdot multiply-add padded to 64); then any rule's pick.
    for &level in isa.with_included() {
        if let Some(pick) = by_rules(level, true) {
            return Ok(pick);
        }
    }
    for &level in isa.with_included() {
        if let Some(pick) = by_rules(level, false) {
            return Ok(pick);
        }
        if let Some(k) = any_of(level) {
            let others = kernels::all().any(|o| {
                o.isa == level
                    && o.name != k.name
                    && o.supports(format)
                    && o.contract == contract
                    && usable(o)
            });
            return Ok((
                k,
                if others {
                    "no selection row for this case: the first of this ISA level's kernels for \
                     this format and contract (not measured against the others)"
                } else {
                    "the only kernel of this ISA level for this format and contract"
                },
            ));
        }
    }
    // No SIMD kernel for this case: the portable kernel the scalar rows
    // prefer.
    if let Some((k, _)) = by_rules(Isa::Scalar, false) {
        return Ok((
            k,
            "no SIMD kernel for this format and contract on this ISA: the fastest portable one",
        ));
    }
    any_of(Isa::Scalar)
        .map(|k| {
            (
                k,
                "no SIMD kernel for this format and contract: portable kernel",
            )
        })
        .ok_or_else(|| {
            Error::Unavailable(format!(
                "no kernel for {format} weights under the {contract} contract"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_and_contract_selects_a_kernel_on_every_isa() {
        for isa in Isa::available() {
            for format in Format::ALL {
                for contract in Contract::ALL {
                    let (k, why) = select(format, contract, isa, 1, false, 64, (64, 64)).unwrap();
                    assert!(k.supports(format) && k.contract == contract, "{}", k.name);
                    assert!(
                        isa.with_included().contains(&k.isa) || k.isa == Isa::Scalar,
                        "{}: {why}",
                        k.name
                    );
                }
            }
        }
    }

    #[test]
    fn short_groups_avoid_kernels_that_pad_them() {
        let pads = |k: &KernelDesc, group: usize| {
            let kc = k.layout.kc(Format::Ternary);
            group.next_multiple_of(kc) as f64 / group as f64
        };
        for isa in Isa::available() {
            for group in [32, 64, 4096] {
                let (k, why) =
                    select(Format::Ternary, Exact, isa, 1, false, group, (64, 4096)).unwrap();
                // Some selection row's family at this level or an included
                // one pads little: then the pick must too.
                let lean_exists = RULES.iter().any(|r| {
                    r.formats == TERNARY_W
                        && r.contract == Exact
                        && r.tokens.contains(&1)
                        && r.weights == Any
                        && isa.with_included().contains(&r.isa)
                        && r.order.iter().any(|&f| {
                            kernels::find(f, Format::Ternary, Exact, r.isa)
                                .is_some_and(|d| pads(d, group) <= MAX_PADDING)
                        })
                });
                assert!(
                    pads(k, group) <= MAX_PADDING || !lean_exists,
                    "{isa}: groups of {group} picked {}: {why}",
                    k.name
                );
            }
        }
    }

    #[test]
    fn vector_lut_for_whole_token_tiles_only() {
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Neon] {
            if !isa.is_available() {
                continue;
            }
            let pick = |n| {
                select(Format::Ternary, Exact, isa, n, false, 4096, (4096, 4096))
                    .unwrap()
                    .0
            };
            assert_eq!(pick(256).family(), VecLutG4, "{isa}");
            assert_eq!(pick(32).family(), VecLutG4, "{isa}");
            assert_ne!(pick(8).family(), VecLutG4, "{isa}");
            if isa != Isa::Neon {
                // 33 tokens are two tiles: the per-token kernel is faster.
                assert_ne!(pick(33).family(), VecLutG4, "{isa}");
            }
        }
    }

    #[test]
    fn one_bit_prefill_takes_the_integer_vector_lut_on_avx512() {
        if !Isa::Avx512.is_available() {
            return;
        }
        let pick = |format, n| {
            select(format, Exact, Isa::Avx512, n, false, 64, (4096, 4096))
                .unwrap()
                .0
                .family()
        };
        assert_eq!(pick(Format::Int1, 256), IntVecLut);
        assert_eq!(pick(Format::Int1, 16), IntVecLut);
        assert_eq!(pick(Format::Int1, 8), BitLutG4);
        for format in [Format::Int2, Format::Int4] {
            assert_eq!(pick(format, 256), MultiplyAdd, "{format}");
        }
        assert_eq!(pick(Format::Int3, 256), BitLutG4);
    }

    #[test]
    fn ternary_fast_and_float_take_simd_kernels() {
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Neon] {
            if !isa.is_available() {
                continue;
            }
            let pick = |contract, n| {
                select(Format::Ternary, contract, isa, n, false, 4096, (4096, 4096))
                    .unwrap()
                    .0
            };
            for contract in [Fast, Float] {
                assert_eq!(pick(contract, 1).family(), BitLutG4, "{isa} {contract}");
                assert_eq!(pick(contract, 1).isa, isa, "{isa} {contract}");
            }
            for contract in [Fast, Float] {
                assert_eq!(pick(contract, 256).family(), VecLutG4, "{isa} {contract}");
            }
        }
    }

    #[test]
    fn dram_streamed_ternary_decode_takes_five_weights_per_byte() {
        let sel = |isa, tokens, dram| {
            select_for(Format::Ternary, Exact, isa, tokens, false, 4096, dram)
                .unwrap()
                .0
                .family()
        };
        for isa in Isa::available() {
            // The rule is AVX-512's: elsewhere the choice does not depend
            // on where the weights are.
            for n in [1, 2, 8, 256] {
                let (cached, dram) = (sel(isa, n, false), sel(isa, n, true));
                if isa == Isa::Avx512 && DRAM_TOKENS.contains(&n) {
                    assert_eq!(dram, MultiplyAdd5, "{isa} n = {n}");
                } else {
                    assert_eq!(dram, cached, "{isa} n = {n}");
                }
                assert_ne!(cached, MultiplyAdd5, "{isa} n = {n}");
            }
            // Integer weights have no five-per-byte layout.
            let int = select_for(Format::Int2, Exact, isa, 1, false, 64, true)
                .unwrap()
                .0;
            assert_ne!(int.family(), MultiplyAdd5);
        }
        // The size test: the 2-bit packing against the cache.
        let llc = CacheSizes::get().l3;
        let rows = llc / 4096 * 4;
        if Isa::available().contains(&Isa::Avx512) {
            let fam = |m| {
                select(
                    Format::Ternary,
                    Exact,
                    Isa::Avx512,
                    1,
                    false,
                    4096,
                    (m, 4096),
                )
                .unwrap()
            };
            assert_eq!(fam(rows).0.family(), MultiplyAdd);
            assert_eq!(fam(rows + 4).0.family(), MultiplyAdd5);
        }
    }

    #[test]
    fn plane_scales_select_a_plane_capable_kernel() {
        for isa in Isa::available() {
            let (k, _) = select(Format::Int4, Exact, isa, 1, true, 32, (64, 64)).unwrap();
            assert!(k.layout.supports_plane_scales(), "{}", k.name);
        }
    }
}
