//! Weight formats users hand in, their scale groups, and quantizers from
//! float weights.
//!
//! Every format is integer codes times a scale plus an offset per *scale
//! group* (a run of consecutive weights of one row along k):
//! `w[r, c] = s[r, g] · code[r, c] + o[r, g]`, `g = c / group_len`.
//!
//! - [`TernaryMatrix`]: codes in {−1, 0, +1}, offset 0.
//! - [`IntMatrix`]: b-bit codes `q ∈ [0, 2^b)`, b ∈ {1, 2, 3, 4}, with a
//!   scale and an offset per group (symmetric, integer zero point and
//!   K-quant style mins are all this one form), or per-bit-plane scales
//!   `w = Σ_i α[r, g, i] · bit_i(q) + o[r, g]` (ELUTQ's HLQ).
//!
//! Kernels compute `Σ x · code` per group (and per plane); the scales and
//! offsets are applied afterwards (`src/epilogue.rs`), or by the
//! multiply-add integer kernels themselves (fused group scaling,
//! [`crate::GroupScaling`]). The oracle in [`crate::reference`] is generic
//! over [`Dequantize`].

pub mod gguf;
pub mod intb;
pub mod ternary;

pub use intb::{IntMatrix, IntQuantizer, IntQuantizerOptions};
pub use ternary::{ScaleGranularity, TernaryMatrix};

use crate::error::{Error, Result};

/// The weight formats lutgemm packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Codes in {−1, 0, +1} (1.58 bits).
    Ternary,
    /// 1-bit codes.
    Int1,
    /// 2-bit codes.
    Int2,
    /// 3-bit codes.
    Int3,
    /// 4-bit codes.
    Int4,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Ternary,
        Format::Int1,
        Format::Int2,
        Format::Int3,
        Format::Int4,
    ];

    /// `"ternary"`, `"int1"` … `"int4"` (descriptions, bench JSON).
    pub fn name(self) -> &'static str {
        match self {
            Format::Ternary => "ternary",
            Format::Int1 => "int1",
            Format::Int2 => "int2",
            Format::Int3 => "int3",
            Format::Int4 => "int4",
        }
    }

    /// Parses [`Format::name`].
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The b-bit integer format, b ∈ {1, 2, 3, 4}.
    pub fn int(bits: u32) -> Result<Format> {
        match bits {
            1 => Ok(Format::Int1),
            2 => Ok(Format::Int2),
            3 => Ok(Format::Int3),
            4 => Ok(Format::Int4),
            _ => Err(Error::Value(format!(
                "integer weights have 1 to 4 bits, got {bits}"
            ))),
        }
    }

    /// Bit planes of the codes as stored: b for b-bit integers, 2 for
    /// ternary (`code + 1 ∈ {0, 1, 2}`).
    pub fn bits(self) -> u32 {
        match self {
            Format::Ternary | Format::Int2 => 2,
            Format::Int1 => 1,
            Format::Int3 => 3,
            Format::Int4 => 4,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A quantized weight matrix as the oracle and the packers see it:
/// `w[r, c] = s[r, g] · code(r, c) + o[r, g]` (or, with plane scales,
/// `Σ_i α[r, g, i] · bit_i(code) + o[r, g]`), `g = c / group_len()`.
pub trait Dequantize: Sync {
    /// Rows (out_features).
    fn m(&self) -> usize;
    /// Columns (in_features).
    fn k(&self) -> usize;
    /// The format of the codes.
    fn format(&self) -> Format;
    /// Weights per scale group along k (divides k).
    fn group_len(&self) -> usize;
    /// The integer the kernels multiply: −1, 0 or 1 for ternary, `q` for
    /// b-bit integers.
    fn code(&self, r: usize, c: usize) -> i32;
    /// Scale of group `g` of row `r` (unused when plane scales are set).
    fn scale(&self, r: usize, g: usize) -> f32;
    /// Offset of group `g` of row `r` (0 for ternary).
    fn offset(&self, r: usize, g: usize) -> f32;
    /// Scale of bit plane `i` of group `g` of row `r`, if the weights use
    /// per-plane scales.
    fn plane_scale(&self, r: usize, g: usize, i: usize) -> Option<f32> {
        let _ = (r, g, i);
        None
    }
    /// Whether the weights use per-bit-plane scales.
    fn has_plane_scales(&self) -> bool {
        false
    }

    /// Scale groups per row.
    fn groups_per_row(&self) -> usize {
        self.k() / self.group_len()
    }

    /// The dequantized value of `code` in group `g` of row `r`, in f64:
    /// `s·code + o`, or `Σ_i α_i·bit_i(code) + o` with plane scales.
    fn value(&self, r: usize, g: usize, code: i32) -> f64 {
        let o = self.offset(r, g) as f64;
        if self.has_plane_scales() {
            (0..self.format().bits() as usize)
                .map(|i| {
                    let bit = (code >> i) & 1;
                    bit as f64 * self.plane_scale(r, g, i).unwrap_or(0.0) as f64
                })
                .sum::<f64>()
                + o
        } else {
            self.scale(r, g) as f64 * code as f64 + o
        }
    }

    /// The dequantized weight, in f64.
    fn weight(&self, r: usize, c: usize) -> f64 {
        self.value(r, c / self.group_len(), self.code(r, c))
    }
}

/// Largest `k` accepted: keeps every exact integer sum (|Σ| ≤ 15·127·k)
/// inside i32 with room to spare.
pub const MAX_K: usize = 1 << 17;

/// Checks `m`, `k` are non-zero, `k ≤ MAX_K`, and `m · k` fits.
pub(crate) fn check_dims(m: usize, k: usize) -> Result<()> {
    if m == 0 || k == 0 {
        return Err(Error::Shape(format!(
            "W must be non-empty, got m = {m}, k = {k}"
        )));
    }
    if k > MAX_K {
        return Err(Error::Shape(format!(
            "k = {k} exceeds the maximum {MAX_K} for exact int32 sums"
        )));
    }
    m.checked_mul(k)
        .filter(|&mk| mk <= isize::MAX as usize / 4)
        .ok_or_else(|| Error::Shape(format!("m × k = {m} × {k} overflows")))?;
    Ok(())
}
