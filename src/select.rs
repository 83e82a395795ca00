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
//! than the portable mad. Integer weights: see the rows' reasons.
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
//! threads, both memory-bound, 1.25×. At n = 2–8 from DRAM 0.97–1.35× (both
//! compute-bound): the row stays at n = 1 ([`DRAM_TOKENS`]). From cache
//! mad5 is 0.61× at n = 1, so the size test matters. No such row for AVX2
//! (`mad5_avx2` decodes by arithmetic: 0.25–0.42× of `mad_avx2`, also from
//! DRAM) nor Arm (not measured; 2.4× the instructions per weight of the
//! 2-bit kernel). The size test judges one matrix: in a model whose layers
//! evict each other every weight streams from DRAM (4096 × 4096 with the
//! caches evicted: mad5 1.02–1.05×), which a caller who knows can force
//! with `PackOptions::family`.

use crate::cache;
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
    /// `true` for ternary rows, `false` for b-bit integer rows.
    ternary: bool,
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

/// Token counts for which the five-weights-per-byte layout beats the 2-bit
/// one on DRAM-streamed weights (see the module doc: a median 1.09–1.18×
/// at n = 1; at n ≥ 2 both kernels are compute-bound and within noise).
const DRAM_TOKENS: RangeInclusive<usize> = 1..=1;

const RULES: &[Rule] = &[
    Rule {
        ternary: true,
        contract: Exact,
        isa: Isa::Avx512,
        tokens: DRAM_TOKENS,
        weights: Dram,
        order: &[MultiplyAdd5, MultiplyAdd, LutG4, LutG2],
        why: "avx512/exact, 2-bit weights larger than the last-level cache: five weights per \
              byte stream 20% fewer bytes from DRAM (mad5 a median 1.09-1.18x mad at \
              65536x4096, n = 1, one thread; 1.25x on 2 threads; src/select.rs)",
    },
    Rule {
        ternary: true,
        contract: Exact,
        isa: Isa::Avx512,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, LutG4, LutG2],
        why: "avx512/exact: VNNI multiply-add ties lut_g4 at n = 1 (88.7 vs 88.1 us, \
              4096x4096) and is as fast or up to 30% faster at n >= 8 (src/select.rs)",
    },
    Rule {
        ternary: true,
        contract: Exact,
        isa: Isa::Avx2,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, LutG2],
        why: "avx2/exact: vpmaddubsw multiply-add is 15-30% faster than lut_g2 on every \
              shape (src/select.rs)",
    },
    Rule {
        ternary: true,
        contract: Exact,
        isa: Isa::Scalar,
        tokens: ANY_N,
        weights: Any,
        order: &[LutG4, LutG2, MultiplyAdd],
        why: "scalar/exact: lut_g4 does four weights per lookup, 2-2.8x faster than the \
              portable multiply-add (src/select.rs)",
    },
    Rule {
        ternary: false,
        contract: Exact,
        isa: Isa::Avx512,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "avx512/exact int: VNNI multiply-add on row-interleaved codes beats the \
              bit-serial tables (one lookup per bit plane) for 2 and 4 bits (src/select.rs)",
    },
    Rule {
        ternary: false,
        contract: Exact,
        isa: Isa::Avx2,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "avx2/exact int: vpmaddubsw multiply-add on row-interleaved codes beats the \
              bit-serial tables for 2 and 4 bits (src/select.rs)",
    },
    Rule {
        ternary: false,
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
        ternary: true,
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
        ternary: false,
        contract: Exact,
        isa: Isa::Neon,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "neon/exact int: chosen by instruction count, not by time (per 1,000 4-bit \
              weights at n = 1: widening multiply-add 237, bit-serial tables 445) (src/select.rs)",
    },
    Rule {
        ternary: true,
        contract: Exact,
        isa: Isa::Dotprod,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, LutG4, LutG2],
        why: "dotprod/exact: chosen by instruction count, not by time (sdot multiply-add \
              164 instructions per 1,000 weights at n = 1) (src/select.rs)",
    },
    Rule {
        ternary: false,
        contract: Exact,
        isa: Isa::I8mm,
        tokens: 2..=usize::MAX,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "i8mm/exact int, n >= 2: chosen by instruction count, not by time (smmla 80 \
              instructions per 1,000 token-weights at 4 tokens vs 90 with sdot) (src/select.rs)",
    },
    Rule {
        ternary: false,
        contract: Exact,
        isa: Isa::Dotprod,
        tokens: ANY_N,
        weights: Any,
        order: &[MultiplyAdd, BitLutG4],
        why: "dotprod/exact int: chosen by instruction count, not by time (sdot multiply-add \
              156 instructions per 1,000 4-bit weights at n = 1) (src/select.rs)",
    },
    Rule {
        ternary: true,
        contract: Fast,
        isa: Isa::Scalar,
        tokens: ANY_N,
        weights: Any,
        order: &[LutG4, LutG2],
        why: "scalar/fast: lut_g4 does four weights per lookup (src/select.rs)",
    },
    Rule {
        ternary: true,
        contract: Float,
        isa: Isa::Scalar,
        tokens: ANY_N,
        weights: Any,
        order: &[LutG4, LutG2],
        why: "scalar/float: lut_g4 does four weights per lookup (src/select.rs)",
    },
];

/// Picks the kernel for `m × k` weights of `format` under `contract` on
/// `isa` for calls of about `tokens` tokens, with the reason.
pub(crate) fn select(
    format: Format,
    contract: Contract,
    isa: Isa,
    tokens: usize,
    plane_scales: bool,
    (m, k): (usize, usize),
) -> Result<(&'static KernelDesc, &'static str)> {
    let dram = m.saturating_mul(k) / 4 > cache::last_level_cache_bytes();
    select_for(format, contract, isa, tokens, plane_scales, dram)
}

/// [`select`], given whether the weights stream from DRAM.
fn select_for(
    format: Format,
    contract: Contract,
    isa: Isa,
    tokens: usize,
    plane_scales: bool,
    dram: bool,
) -> Result<(&'static KernelDesc, &'static str)> {
    let usable = |k: &KernelDesc| !plane_scales || k.layout.supports_plane_scales();
    let ternary = format == Format::Ternary;
    let residency = |w: Residency| w == Any || (w == Dram && dram && ternary);
    let by_rules = |isa: Isa| {
        RULES
            .iter()
            .filter(|r| {
                r.ternary == ternary
                    && r.contract == contract
                    && r.isa == isa
                    && r.tokens.contains(&tokens)
                    && residency(r.weights)
            })
            .find_map(|rule| {
                rule.order.iter().find_map(|&family| {
                    kernels::find(family, format, contract, isa)
                        .filter(|k| usable(k))
                        .map(|k| (k, rule.why))
                })
            })
    };
    let any_of = |isa: Isa| {
        kernels::all()
            .find(|k| k.isa == isa && k.supports(format) && k.contract == contract && usable(k))
    };
    for &level in isa.with_included() {
        if let Some(pick) = by_rules(level) {
            return Ok(pick);
        }
        if let Some(k) = any_of(level) {
            return Ok((
                k,
                "the only kernel of this ISA level for this format and contract",
            ));
        }
    }
    // No SIMD kernel for this case: the portable kernel the scalar rows
    // prefer.
    if let Some((k, _)) = by_rules(Isa::Scalar) {
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
                    let (k, why) = select(format, contract, isa, 1, false, (64, 64)).unwrap();
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
    fn dram_streamed_ternary_decode_takes_five_weights_per_byte() {
        let sel = |isa, tokens, dram| {
            select_for(Format::Ternary, Exact, isa, tokens, false, dram)
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
            let int = select_for(Format::Int2, Exact, isa, 1, false, true)
                .unwrap()
                .0;
            assert_ne!(int.family(), MultiplyAdd5);
        }
        // The size test: the 2-bit packing against the cache.
        let llc = cache::last_level_cache_bytes();
        let rows = llc / 4096 * 4;
        if Isa::available().contains(&Isa::Avx512) {
            let fam = |m| select(Format::Ternary, Exact, Isa::Avx512, 1, false, (m, 4096)).unwrap();
            assert_eq!(fam(rows).0.family(), MultiplyAdd);
            assert_eq!(fam(rows + 4).0.family(), MultiplyAdd5);
        }
    }

    #[test]
    fn plane_scales_select_a_plane_capable_kernel() {
        for isa in Isa::available() {
            let (k, _) = select(Format::Int4, Exact, isa, 1, true, (64, 64)).unwrap();
            assert!(k.layout.supports_plane_scales(), "{}", k.name);
        }
    }
}
