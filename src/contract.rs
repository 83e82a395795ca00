//! Numerical contracts (DESIGN.md §3): what a kernel promises about its
//! result. A caller chooses one when packing ([`crate::PackOptions`]);
//! `describe()` names it.
//!
//! - **Exact**: activations quantized to int8 per token (see
//!   [`crate::activation`]), integer sums per scale group exact in int32
//!   and equal to [`crate::reference::integer_sums`] bit for bit. Scales
//!   and offsets are applied afterwards in f64 and rounded once to f32
//!   (bit-identical across kernels, ISAs and thread counts), or, by the
//!   multiply-add integer kernels when the weights pass a magnitude check
//!   at pack time, fused into the kernel in f32 in one fixed order
//!   (bit-identical across ISAs and thread counts, within the bound of
//!   `src/epilogue.rs` of the f64 result; [`crate::GroupScaling`]).
//! - **Fast**: no per-token quantization; each table of activation sums is
//!   built in f32 and re-quantized to int8 (T-MAC style) with one scale per
//!   span of at most 64 activations (never per row: one scale per row
//!   measured ~50× worse NMSE on outlier-heavy activations). Kernels add
//!   int8 entries exactly within a span and scale once per span. Error
//!   bound: every table entry is off by at most half its span's scale, so
//!   `|y − y_f64| ≤ Σ_spans (lookups per row in the span) · scale_span / 2
//!   · |s|·(2^b − 1)`. Documented bound, tested as NMSE against the f64
//!   oracle (tests/contracts.rs): ≤ 3e-4 on Gaussian activations and
//!   ≤ 1e-3 with large outlier channels; measured 9e-6 – 8e-5 (Gaussian)
//!   and 1.4e-5 – 2.1e-4 (outliers) on random dense weights, and up to
//!   6e-4 on sparse ternary weights from llama.cpp's TQ1_0 quantizer
//!   (tests/gguf_oracle.rs, which allows 1e-3).
//! - **Float**: f32 tables from f32 activations, no quantization at all;
//!   sums in f32 per span of 64 activations, spans and groups added in
//!   f32/f64. Error ≤ 1e-5 · Σ|x·w| against the f64 oracle (tested).
//!
//! The multiply-add kernels are integer kernels: Exact only.

/// A numerical contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Contract {
    /// int8 activations, exact integer sums (the default).
    #[default]
    Exact,
    /// int8 table entries with one scale per ≤ 64 activations.
    Fast,
    /// f32 tables, no quantization.
    Float,
}

impl Contract {
    /// Every contract.
    pub const ALL: [Contract; 3] = [Contract::Exact, Contract::Fast, Contract::Float];

    /// `"exact"`, `"fast"`, `"float"`.
    pub fn name(self) -> &'static str {
        match self {
            Contract::Exact => "exact",
            Contract::Fast => "fast",
            Contract::Float => "float",
        }
    }

    /// Parses [`Contract::name`].
    pub fn from_name(name: &str) -> Option<Contract> {
        Contract::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether the kernels read int8 activations (else f32).
    pub(crate) fn quantizes_activations(self) -> bool {
        self == Contract::Exact
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
