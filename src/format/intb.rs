//! b-bit integer weights, b ∈ {1, 2, 3, 4}: codes `q ∈ [0, 2^b)` times a
//! scale plus an offset per scale group.
//!
//! `W` is `m × k` (out_features × in_features), row-major. A *scale group*
//! (called a block, as in [`super::ternary`]) is a run of consecutive
//! weights of one row along k, chosen by [`ScaleGranularity`]: the whole
//! tensor, a whole row, or `PerBlock(n)` for any `n` dividing k (16, 32,
//! 64, 128 and 256 are the common ones). Group `g` of row `r` covers columns
//! `g · block_len .. (g + 1) · block_len`.
//!
//! Two forms, both evaluated in f64 from the stored f32 values (see
//! [`Dequantize::weight`]):
//!
//! - **Scale and offset** ([`IntMatrix::new`]):
//!   `w[r, c] = s[r, g] · q[r, c] + o[r, g]`. Symmetric quantization, an
//!   integer zero point `z` (GPTQ/AWQ: `o = −z · s`) and K-quant style mins
//!   (`w = d · q − m`: `o = −m`) are all this one form.
//! - **Per-bit-plane scales** ([`IntMatrix::with_plane_scales`], ELUTQ's
//!   HLQ): `w[r, c] = Σ_{i < b} α[r, g, i] · bit_i(q[r, c]) + o[r, g]`,
//!   `bit_i(q) = (q >> i) & 1`. With `α_i = s · 2^i` it is the first form.
//!
//! Layouts: codes are `m × k` row-major, one code per byte (low `b` bits);
//! scales and offsets hold one value per group, in the order of
//! [`ScaleGranularity::scale_count`] (1 per tensor, `m` per row, or
//! `m × (k / block)` row-major per block); plane scales hold `bits` values
//! per group, `[group][plane]` order (plane 0 = least significant bit).
//!
//! Float weights become codes through an [`IntQuantizer`]; its doc states
//! the exact formulas. NaN or ±Inf weights, scales, offsets and plane
//! scales are rejected with an error, as is any code `≥ 2^b`.

use super::{Dequantize, Format, ScaleGranularity, check_dims};
use crate::activation::ActivationElem;
use crate::error::{Error, Result, check_len};
use half::{bf16, f16};

/// How float weights become b-bit codes.
///
/// Each scale group (see [`ScaleGranularity`]) is quantized on its own. All
/// arithmetic below is in f64 from f32 inputs; a scale or offset is rounded
/// to f32 once, when stored, and the codes are computed from the *stored*
/// f32 values, so `s · q + o` evaluated from what the matrix holds is the
/// value the quantizer aimed at. `round` is round-half-away-from-zero
/// ([`f64::round`]); `qmax = 2^b − 1`.
///
/// A group that would need a scale or offset beyond the f32 range (weights
/// near ±3.4e38) is rejected with [`Error::Value`] naming the group.
///
/// [`IntQuantizer::with_f16_scales`] stores f16 values instead (as GGUF
/// and GPTQ do), which packs to half the scale bytes and lets the
/// multiply-add kernels read f16 scales (`PackedWeights::group_scaling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IntQuantizer {
    /// Round-to-nearest between the group's min and max (the offset is the
    /// min, as in llama.cpp Q4_1 but with f32 rather than f16 scale and
    /// min):
    ///
    /// - `lo = min w`, `hi = max w`;
    /// - `s = f32((hi − lo) / qmax)`, `o = lo` (exact);
    /// - `q = clamp(round((w − o) / s), 0, qmax)`.
    ///
    /// Every dequantized weight `s · q + o` is within `s / 2` of `w` (up to
    /// the f32 rounding of `s`, a relative 2⁻²⁴). A group whose scale is 0
    /// (all weights equal, or a range so small that `s` underflows f32)
    /// gets `s = 0`, `q = 0`, `o = lo`: exact for a constant group.
    #[default]
    Asymmetric,
    /// Symmetric around zero with the fixed zero point `z = 2^(b−1)`, for
    /// `b ≥ 2`:
    ///
    /// - `s = f32(max|w| / (2^(b−1) − 1))`, `o = −z · s` (exact in f32);
    /// - `q = clamp(round(w / s) + z, 0, qmax)`.
    ///
    /// So `w ≈ s · (q − z)` and codes of nonzero groups span
    /// `1 ..= qmax` (code 0, i.e. `−z · s`, is never produced). The clamp
    /// only guards the extremes `w = ±max|w|` against the f32 rounding of
    /// `s`; where it does not bite, each dequantized weight is within
    /// `s / 2` of `w`.
    ///
    /// For `b = 1` (BitNet binary style): `a = f32(mean|w|)` over the group,
    /// `q = (w ≥ 0)` (so −0 counts as positive), `s = 2a`, `o = −a`, so
    /// every weight dequantizes to `+a` or `−a` with the sign of `w`.
    ///
    /// A group whose scale is 0 (all zeros, or values so small that the
    /// scale underflows f32) gets `s = 0`, `o = 0` and `q = z` (`q = 0`
    /// for `b = 1`): it dequantizes to exact zeros.
    Symmetric,
}

impl IntQuantizer {
    /// This quantizer with every scale and offset an f16 value (GGUF /
    /// GPTQ style), rounded so that no code clips:
    ///
    /// - [`IntQuantizer::Asymmetric`]: `o` = the largest f16 `≤ lo`,
    ///   `s` = the smallest f16 `≥ (hi − o) / qmax`; so `[lo, hi]` lies in
    ///   `[o, o + qmax · s]` and every dequantized weight is within `s / 2`
    ///   of `w` (a group with `hi = o` gets `s = 0`, codes 0, exact).
    /// - [`IntQuantizer::Symmetric`], `b ≥ 2`: `s` = the smallest f16
    ///   `≥ max|w| / (2^(b−1) − 1)`, `o = −z · s` (exact: `z` is a power
    ///   of two); every weight within `s / 2`. For `b = 1`: `a` = the f16
    ///   nearest `mean|w|`, `s = 2a`, `o = −a`.
    ///
    /// Codes are computed from the stored values, as without this option.
    /// A group needing a scale or offset beyond f16's range (|value| >
    /// 65504) is rejected with [`Error::Value`].
    pub fn with_f16_scales(self) -> IntQuantizerOptions {
        IntQuantizerOptions {
            quantizer: self,
            f16_scales: true,
        }
    }
}

/// An [`IntQuantizer`] and how its scales and offsets are stored; an
/// `IntQuantizer` converts to this with f32 scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IntQuantizerOptions {
    /// The formulas.
    pub quantizer: IntQuantizer,
    /// Round scales and offsets to f16 values
    /// ([`IntQuantizer::with_f16_scales`]).
    pub f16_scales: bool,
}

impl From<IntQuantizer> for IntQuantizerOptions {
    fn from(quantizer: IntQuantizer) -> Self {
        IntQuantizerOptions {
            quantizer,
            f16_scales: false,
        }
    }
}

/// A b-bit integer weight matrix in its user-facing form.
#[derive(Debug, Clone, PartialEq)]
pub struct IntMatrix {
    m: usize,
    k: usize,
    /// 1 to 4.
    bits: u32,
    granularity: ScaleGranularity,
    /// m × k, row-major, each `< 2^bits`.
    codes: Vec<u8>,
    /// One per group (see [`ScaleGranularity::scale_count`]); empty when
    /// `plane_scales` is set.
    scales: Vec<f32>,
    /// One per group.
    offsets: Vec<f32>,
    /// `scale_count × bits`, `[group][plane]` order.
    plane_scales: Option<Vec<f32>>,
}

impl IntMatrix {
    /// Builds a matrix in the scale-and-offset form
    /// `w = s · q + o` from codes (m × k, row-major, each `< 2^bits`),
    /// scales and offsets (one per group each, count given by
    /// [`ScaleGranularity::scale_count`], in that order; finite).
    ///
    /// Errors: [`Error::Shape`] for an empty or too large matrix or a
    /// granularity that does not fit `k`; [`Error::Value`] for `bits`
    /// outside 1..=4, a code `≥ 2^bits` (naming its row, column and value),
    /// or a non-finite scale or offset (naming its index);
    /// [`Error::Length`] for a slice of the wrong length.
    pub fn new(
        m: usize,
        k: usize,
        bits: u32,
        granularity: ScaleGranularity,
        codes: Vec<u8>,
        scales: Vec<f32>,
        offsets: Vec<f32>,
    ) -> Result<Self> {
        let count = check_shape(m, k, bits, granularity)?;
        check_len("integer codes", m * k, codes.len())?;
        check_len("scales", count, scales.len())?;
        check_len("offsets", count, offsets.len())?;
        check_codes(&codes, k, bits)?;
        check_finite("scale", &scales, granularity, k, 1)?;
        check_finite("offset", &offsets, granularity, k, 1)?;
        Ok(IntMatrix {
            m,
            k,
            bits,
            granularity,
            codes,
            scales,
            offsets,
            plane_scales: None,
        })
    }

    /// Builds a matrix in the per-bit-plane form (ELUTQ's HLQ)
    /// `w = Σ_{i < bits} α_i · bit_i(q) + o`, `bit_i(q) = (q >> i) & 1`,
    /// from codes (m × k, row-major, each `< 2^bits`), plane scales
    /// (`scale_count × bits`, `[group][plane]` order, plane 0 the least
    /// significant bit; finite) and offsets (one per group; finite).
    ///
    /// The matrix then has no per-group scale: [`IntMatrix::scales`] is
    /// empty and [`IntMatrix::scale`] returns 0.
    ///
    /// Errors: as [`IntMatrix::new`], with plane scales in place of scales.
    pub fn with_plane_scales(
        m: usize,
        k: usize,
        bits: u32,
        granularity: ScaleGranularity,
        codes: Vec<u8>,
        plane_scales: Vec<f32>,
        offsets: Vec<f32>,
    ) -> Result<Self> {
        let count = check_shape(m, k, bits, granularity)?;
        let plane_count = count.checked_mul(bits as usize).ok_or_else(|| {
            Error::Shape(format!("{count} scale groups × {bits} planes overflow"))
        })?;
        check_len("integer codes", m * k, codes.len())?;
        check_len("plane scales", plane_count, plane_scales.len())?;
        check_len("offsets", count, offsets.len())?;
        check_codes(&codes, k, bits)?;
        check_finite("plane scale", &plane_scales, granularity, k, bits as usize)?;
        check_finite("offset", &offsets, granularity, k, 1)?;
        Ok(IntMatrix {
            m,
            k,
            bits,
            granularity,
            codes,
            scales: Vec::new(),
            offsets,
            plane_scales: Some(plane_scales),
        })
    }

    /// Quantizes float weights (m × k, row-major) to `bits`-bit codes with
    /// a scale and an offset per group, as `quantizer` describes (see
    /// [`IntQuantizer`] for the exact formulas): an [`IntQuantizer`] (f32
    /// scales), or one with [`IntQuantizer::with_f16_scales`].
    ///
    /// Errors: as [`IntMatrix::new`]; [`Error::Length`] if `w` is not
    /// `m × k` long; [`Error::Value`] for a NaN or ±Inf weight (naming its
    /// row and column) or a group whose scale or offset overflows f32
    /// (f16 with f16 scales).
    pub fn quantize_f32(
        w: &[f32],
        m: usize,
        k: usize,
        bits: u32,
        granularity: ScaleGranularity,
        quantizer: impl Into<IntQuantizerOptions>,
    ) -> Result<Self> {
        let IntQuantizerOptions {
            quantizer,
            f16_scales,
        } = quantizer.into();
        let count = check_shape(m, k, bits, granularity)?;
        check_len("float weights", m * k, w.len())?;
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::Value(format!(
                "weight {} at row {}, column {} is not finite",
                w[i],
                i / k,
                i % k
            )));
        }
        // Groups are contiguous in the row-major weights: the whole tensor,
        // one row, or one block of a row.
        let glen = match granularity {
            ScaleGranularity::PerTensor => m * k,
            ScaleGranularity::PerRow => k,
            ScaleGranularity::PerBlock(b) => b,
        };
        debug_assert_eq!(count * glen, w.len());
        let mut codes = vec![0u8; m * k];
        let mut scales = Vec::with_capacity(count);
        let mut offsets = Vec::with_capacity(count);
        for (gi, (wg, cg)) in w
            .chunks_exact(glen)
            .zip(codes.chunks_exact_mut(glen))
            .enumerate()
        {
            let (s, o) = group_params(wg, bits, quantizer, f16_scales);
            if !s.is_finite() || !o.is_finite() {
                return Err(Error::Value(format!(
                    "{} cannot be quantized to {bits} bits: its scale ({s}) or offset ({o}) \
                     overflows {}",
                    group_name(granularity, k, gi),
                    if f16_scales { "f16" } else { "f32" }
                )));
            }
            group_codes(wg, cg, bits, quantizer, s, o);
            scales.push(s);
            offsets.push(o);
        }
        IntMatrix::new(m, k, bits, granularity, codes, scales, offsets)
    }

    /// [`IntMatrix::quantize_f32`] from f16 weights (converted exactly to
    /// f32 first).
    pub fn quantize_f16(
        w: &[f16],
        m: usize,
        k: usize,
        bits: u32,
        granularity: ScaleGranularity,
        quantizer: impl Into<IntQuantizerOptions>,
    ) -> Result<Self> {
        Self::quantize_converted(w, m, k, bits, granularity, quantizer.into())
    }

    /// [`IntMatrix::quantize_f32`] from bf16 weights (converted exactly to
    /// f32 first).
    pub fn quantize_bf16(
        w: &[bf16],
        m: usize,
        k: usize,
        bits: u32,
        granularity: ScaleGranularity,
        quantizer: impl Into<IntQuantizerOptions>,
    ) -> Result<Self> {
        Self::quantize_converted(w, m, k, bits, granularity, quantizer.into())
    }

    fn quantize_converted<T: ActivationElem>(
        w: &[T],
        m: usize,
        k: usize,
        bits: u32,
        granularity: ScaleGranularity,
        quantizer: IntQuantizerOptions,
    ) -> Result<Self> {
        let mut f = vec![0f32; w.len()];
        T::to_f32_slice(w, &mut f);
        Self::quantize_f32(&f, m, k, bits, granularity, quantizer)
    }

    /// Rows (out_features).
    pub fn m(&self) -> usize {
        self.m
    }
    /// Columns (in_features).
    pub fn k(&self) -> usize {
        self.k
    }
    /// Bits per code, 1 to 4.
    pub fn bits(&self) -> u32 {
        self.bits
    }
    /// [`Format::Int1`] … [`Format::Int4`], after [`IntMatrix::bits`].
    pub fn format(&self) -> Format {
        match self.bits {
            1 => Format::Int1,
            2 => Format::Int2,
            3 => Format::Int3,
            _ => Format::Int4,
        }
    }
    /// Scale granularity (the scale groups).
    pub fn granularity(&self) -> ScaleGranularity {
        self.granularity
    }
    /// Codes, m × k row-major, each `< 2^bits`.
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }
    /// Scales, one per group (see [`ScaleGranularity::scale_count`]); empty
    /// when the matrix has plane scales.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }
    /// Offsets, one per group (see [`ScaleGranularity::scale_count`]).
    pub fn offsets(&self) -> &[f32] {
        &self.offsets
    }
    /// Plane scales, `scale_count × bits` in `[group][plane]` order, if the
    /// matrix uses the per-bit-plane form.
    pub fn plane_scales(&self) -> Option<&[f32]> {
        self.plane_scales.as_deref()
    }
    /// Length of one scale group along k.
    pub fn block_len(&self) -> usize {
        self.granularity.block_len(self.k)
    }
    /// Scale groups per row.
    pub fn blocks_per_row(&self) -> usize {
        self.k / self.block_len()
    }

    fn group_index(&self, r: usize, b: usize) -> usize {
        self.granularity.index(r, b, self.blocks_per_row())
    }

    /// The scale of group `b` of row `r`; 0 when the matrix has plane
    /// scales (use [`IntMatrix::plane_scale`] then). Panics if the group
    /// is out of range.
    pub fn scale(&self, r: usize, b: usize) -> f32 {
        if self.plane_scales.is_some() {
            0.0
        } else {
            self.scales[self.group_index(r, b)]
        }
    }
    /// The offset of group `b` of row `r`. Panics if the group is out of
    /// range.
    pub fn offset(&self, r: usize, b: usize) -> f32 {
        self.offsets[self.group_index(r, b)]
    }
    /// The scale `α_i` of bit plane `i` of group `b` of row `r`, if the
    /// matrix has plane scales. Panics if the group is out of range or
    /// `i ≥ bits`.
    pub fn plane_scale(&self, r: usize, b: usize, i: usize) -> Option<f32> {
        let ps = self.plane_scales.as_deref()?;
        let bits = self.bits as usize;
        assert!(i < bits, "bit plane {i} of a {bits}-bit matrix");
        Some(ps[self.group_index(r, b) * bits + i])
    }

    /// Dequantized weights, m × k row-major: each is the f64 value
    /// [`Dequantize::weight`] returns, rounded to f32.
    pub fn dequantize(&self) -> Vec<f32> {
        let bl = self.block_len();
        let mut out = Vec::with_capacity(self.m * self.k);
        let levels = 1usize << self.bits;
        for (r, row) in self.codes.chunks_exact(self.k).enumerate() {
            for (b, block) in row.chunks_exact(bl).enumerate() {
                let mut table = [0f32; 16];
                for (q, t) in table.iter_mut().enumerate().take(levels) {
                    *t = self.value(r, b, q as i32) as f32;
                }
                out.extend(block.iter().map(|&q| table[q as usize]));
            }
        }
        out
    }
}

impl Dequantize for IntMatrix {
    fn m(&self) -> usize {
        self.m
    }
    fn k(&self) -> usize {
        self.k
    }
    fn format(&self) -> Format {
        IntMatrix::format(self)
    }
    fn group_len(&self) -> usize {
        self.block_len()
    }
    #[inline]
    fn code(&self, r: usize, c: usize) -> i32 {
        self.codes[r * self.k + c] as i32
    }
    fn scale(&self, r: usize, g: usize) -> f32 {
        IntMatrix::scale(self, r, g)
    }
    fn offset(&self, r: usize, g: usize) -> f32 {
        IntMatrix::offset(self, r, g)
    }
    fn plane_scale(&self, r: usize, g: usize, i: usize) -> Option<f32> {
        IntMatrix::plane_scale(self, r, g, i)
    }
    fn has_plane_scales(&self) -> bool {
        self.plane_scales.is_some()
    }
}

/// Checks dims, bits and granularity; returns the number of groups.
fn check_shape(m: usize, k: usize, bits: u32, granularity: ScaleGranularity) -> Result<usize> {
    check_dims(m, k)?;
    Format::int(bits)?;
    granularity.scale_count(m, k)
}

/// Every code `< 2^bits`; the error names row, column and value.
fn check_codes(codes: &[u8], k: usize, bits: u32) -> Result<()> {
    let limit = 1u32 << bits;
    if let Some(i) = codes.iter().position(|&q| q as u32 >= limit) {
        return Err(Error::Value(format!(
            "{bits}-bit code {} at row {}, column {} is not in [0, {limit})",
            codes[i],
            i / k,
            i % k
        )));
    }
    Ok(())
}

/// Every value finite; the error names the index, the group and (for plane
/// scales, `per_group > 1`) the plane.
fn check_finite(
    what: &str,
    vals: &[f32],
    granularity: ScaleGranularity,
    k: usize,
    per_group: usize,
) -> Result<()> {
    if let Some(i) = vals.iter().position(|v| !v.is_finite()) {
        let group = group_name(granularity, k, i / per_group);
        let plane = if per_group > 1 {
            format!(", plane {}", i % per_group)
        } else {
            String::new()
        };
        return Err(Error::Value(format!(
            "{what} {} at index {i} ({group}{plane}) is not finite",
            vals[i]
        )));
    }
    Ok(())
}

/// Names scale group `gi` (its index in the scales vector) for errors.
fn group_name(granularity: ScaleGranularity, k: usize, gi: usize) -> String {
    match granularity {
        ScaleGranularity::PerTensor => "the per-tensor group".to_string(),
        ScaleGranularity::PerRow => format!("the group of row {gi}"),
        ScaleGranularity::PerBlock(b) => {
            let per_row = k / b.max(1);
            format!("the group of row {}, block {}", gi / per_row, gi % per_row)
        }
    }
}

/// The f16 value nearest `v` from above (`up`: the smallest f16 `≥ v`) or
/// below (the largest `≤ v`), as f32; ±inf beyond f16's range.
fn f16_directed(v: f64, up: bool) -> f32 {
    let next_up = |x: f16| {
        let b = x.to_bits();
        f16::from_bits(if b & 0x7fff == 0 {
            1
        } else if b & 0x8000 == 0 {
            b + 1
        } else {
            b - 1
        })
    };
    let c = f16::from_f64(v);
    let cv = c.to_f64();
    if up && cv < v {
        next_up(c).to_f32()
    } else if !up && cv > v {
        -next_up(-c).to_f32()
    } else {
        cv as f32
    }
}

/// The f16 value nearest `v`, as f32 (±inf beyond f16's range).
fn f16_nearest(v: f64) -> f32 {
    f16::from_f64(v).to_f32()
}

/// Scale and offset of one group (see [`IntQuantizer`]), f16 values when
/// `f16_scales` ([`IntQuantizer::with_f16_scales`]); may be non-finite
/// when the weights are near the f32 (f16) limit (the caller rejects
/// that).
fn group_params(w: &[f32], bits: u32, quantizer: IntQuantizer, f16_scales: bool) -> (f32, f32) {
    let qmax = ((1u32 << bits) - 1) as f64;
    if f16_scales {
        return group_params_f16(w, bits, quantizer);
    }
    match quantizer {
        IntQuantizer::Asymmetric => {
            let (lo, hi) = min_max(w);
            let s = ((hi as f64 - lo as f64) / qmax) as f32;
            (s, lo)
        }
        IntQuantizer::Symmetric if bits == 1 => {
            let a = (w.iter().map(|v| v.abs() as f64).sum::<f64>() / w.len() as f64) as f32;
            if a == 0.0 {
                (0.0, 0.0)
            } else {
                ((2.0 * a as f64) as f32, -a)
            }
        }
        IntQuantizer::Symmetric => {
            let z = (1u32 << (bits - 1)) as f64;
            let amax = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = (amax as f64 / (z - 1.0)) as f32;
            if s == 0.0 {
                (0.0, 0.0)
            } else {
                (s, (-z * s as f64) as f32)
            }
        }
    }
}

/// The smallest and largest of `w`.
fn min_max(w: &[f32]) -> (f32, f32) {
    w.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// [`group_params`] with f16 values (the rounding directions of
/// [`IntQuantizer::with_f16_scales`]).
fn group_params_f16(w: &[f32], bits: u32, quantizer: IntQuantizer) -> (f32, f32) {
    let qmax = ((1u32 << bits) - 1) as f64;
    match quantizer {
        IntQuantizer::Asymmetric => {
            let (lo, hi) = min_max(w);
            let o = f16_directed(lo as f64, false);
            let s = f16_directed((hi as f64 - o as f64) / qmax, true);
            (s, o)
        }
        IntQuantizer::Symmetric if bits == 1 => {
            let a = f16_nearest(w.iter().map(|v| v.abs() as f64).sum::<f64>() / w.len() as f64);
            if a == 0.0 {
                (0.0, 0.0)
            } else {
                (f16_nearest(2.0 * a as f64), -a)
            }
        }
        IntQuantizer::Symmetric => {
            let z = (1u32 << (bits - 1)) as f64;
            let amax = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = f16_directed(amax as f64 / (z - 1.0), true);
            if s == 0.0 {
                (0.0, 0.0)
            } else {
                (s, f16_nearest(-z * s as f64))
            }
        }
    }
}

/// Codes of one group from its stored (finite) scale and offset.
fn group_codes(w: &[f32], q: &mut [u8], bits: u32, quantizer: IntQuantizer, s: f32, o: f32) {
    let qmax = ((1u32 << bits) - 1) as f64;
    match quantizer {
        IntQuantizer::Asymmetric => {
            if s == 0.0 {
                q.fill(0);
            } else {
                let (s, o) = (s as f64, o as f64);
                for (q, &v) in q.iter_mut().zip(w) {
                    *q = ((v as f64 - o) / s).round().clamp(0.0, qmax) as u8;
                }
            }
        }
        IntQuantizer::Symmetric if bits == 1 => {
            if s == 0.0 {
                q.fill(0);
            } else {
                for (q, &v) in q.iter_mut().zip(w) {
                    *q = (v >= 0.0) as u8;
                }
            }
        }
        IntQuantizer::Symmetric => {
            let z = (1u32 << (bits - 1)) as f64;
            if s == 0.0 {
                q.fill(z as u8);
            } else {
                let s = s as f64;
                for (q, &v) in q.iter_mut().zip(w) {
                    *q = ((v as f64 / s).round() + z).clamp(0.0, qmax) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRANULARITIES: [ScaleGranularity; 7] = [
        ScaleGranularity::PerBlock(16),
        ScaleGranularity::PerBlock(32),
        ScaleGranularity::PerBlock(64),
        ScaleGranularity::PerBlock(128),
        ScaleGranularity::PerBlock(256),
        ScaleGranularity::PerRow,
        ScaleGranularity::PerTensor,
    ];

    /// Deterministic weights in about [−1, 1] with a few outliers up to ±8
    /// and some exact zeros.
    fn weights(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
                match x % 61 {
                    0 => 0.0,
                    1 => (u - 0.5) * 16.0,
                    _ => u * 2.0 - 1.0,
                }
            })
            .collect()
    }

    fn msg(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn dequantize_hand_made_per_tensor() {
        let t = IntMatrix::new(
            2,
            3,
            2,
            ScaleGranularity::PerTensor,
            vec![0, 1, 2, 3, 2, 1],
            vec![0.5],
            vec![-1.0],
        )
        .unwrap();
        assert_eq!(t.dequantize(), vec![-1.0, -0.5, 0.0, 0.5, 0.0, -0.5]);
        assert_eq!(t.block_len(), 3);
        assert_eq!(t.blocks_per_row(), 1);
        assert_eq!(t.format(), Format::Int2);
        assert_eq!((t.scale(1, 0), t.offset(1, 0)), (0.5, -1.0));
    }

    #[test]
    fn dequantize_hand_made_per_row() {
        let t = IntMatrix::new(
            2,
            2,
            3,
            ScaleGranularity::PerRow,
            vec![7, 0, 4, 1],
            vec![1.0, 0.25],
            vec![0.0, 2.0],
        )
        .unwrap();
        assert_eq!(t.dequantize(), vec![7.0, 0.0, 3.0, 2.25]);
        assert_eq!(t.scale(1, 0), 0.25);
        assert_eq!(t.offset(1, 0), 2.0);
    }

    #[test]
    fn dequantize_hand_made_per_block() {
        // Two rows, two blocks of 2 per row, 4-bit.
        let t = IntMatrix::new(
            2,
            4,
            4,
            ScaleGranularity::PerBlock(2),
            vec![15, 0, 1, 2, 8, 8, 3, 0],
            vec![1.0, 2.0, 0.5, -1.0],
            vec![-8.0, 0.0, -4.0, 1.0],
        )
        .unwrap();
        assert_eq!(
            t.dequantize(),
            vec![7.0, -8.0, 2.0, 4.0, 0.0, 0.0, -2.0, 1.0]
        );
        assert_eq!(t.blocks_per_row(), 2);
        assert_eq!((t.scale(1, 1), t.offset(1, 1)), (-1.0, 1.0));
        assert_eq!(t.format(), Format::Int4);
        assert_eq!(t.plane_scales(), None);
        assert_eq!(t.plane_scale(0, 0, 0), None);
    }

    #[test]
    fn dequantize_hand_made_1bit() {
        let t = IntMatrix::new(
            1,
            4,
            1,
            ScaleGranularity::PerBlock(2),
            vec![1, 0, 0, 1],
            vec![2.0, 0.5],
            vec![-1.0, 0.25],
        )
        .unwrap();
        assert_eq!(t.dequantize(), vec![1.0, -1.0, 0.25, 0.75]);
        assert_eq!(t.format(), Format::Int1);
    }

    /// Checks codes are in range and `weight` (f64) is within `s/2` of `w`
    /// for an asymmetric quantization.
    fn check_asymmetric(t: &IntMatrix, w: &[f32]) {
        let (m, k, bl) = (t.m(), t.k(), t.block_len());
        assert!(t.codes().iter().all(|&q| (q as u32) < 1 << t.bits()));
        for r in 0..m {
            for c in 0..k {
                let v = w[r * k + c] as f64;
                let s = t.scale(r, c / bl) as f64;
                let err = (t.weight(r, c) - v).abs();
                // s/2 up to the f32 rounding of s (relative 2^-24 on up to
                // 15 steps) and f64 evaluation.
                let tol = s / 2.0 + s * 16.0 * f32::EPSILON as f64 + 1e-12 * v.abs();
                assert!(
                    err <= tol,
                    "bits {}, {:?}: w[{r}, {c}] = {v}, got {}, s = {s}",
                    t.bits(),
                    t.granularity(),
                    t.weight(r, c)
                );
            }
        }
    }

    #[test]
    fn asymmetric_error_bound() {
        let (m, k) = (3, 512);
        let w = weights(m * k, 1);
        for bits in 1..=4 {
            for g in GRANULARITIES {
                let t =
                    IntMatrix::quantize_f32(&w, m, k, bits, g, IntQuantizer::Asymmetric).unwrap();
                assert_eq!(t.granularity(), g);
                assert_eq!(t.scales().len(), g.scale_count(m, k).unwrap());
                check_asymmetric(&t, &w);
                // Offsets are the group minima, scales (max − min) / qmax.
                let glen = if g == ScaleGranularity::PerTensor {
                    m * k
                } else {
                    g.block_len(k)
                };
                let groups = w.chunks_exact(glen).zip(t.codes().chunks_exact(glen));
                for (gi, (wg, qg)) in groups.enumerate() {
                    let lo = wg.iter().copied().fold(f32::INFINITY, f32::min);
                    let hi = wg.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    assert_eq!(t.offsets()[gi], lo);
                    let s = ((hi as f64 - lo as f64) / ((1 << bits) - 1) as f64) as f32;
                    assert_eq!(t.scales()[gi], s);
                    // The group extremes hit the end codes.
                    for (&v, &q) in wg.iter().zip(qg) {
                        if v == lo {
                            assert_eq!(q, 0);
                        }
                        if v == hi {
                            assert_eq!(q as u32, (1 << bits) - 1);
                        }
                    }
                }
            }
        }
    }

    /// Whether `v` is an f16 value.
    fn is_f16(v: f32) -> bool {
        f16::from_f32(v).to_f32().to_bits() == v.to_bits()
    }

    #[test]
    fn f16_scales_are_f16_values_and_keep_the_bound() {
        let (m, k) = (3, 512);
        // The test weights, and the same scaled near f16's limits.
        for (seed, mul) in [(5u64, 1.0f32), (6, 2000.0), (7, 1e-6)] {
            let w: Vec<f32> = weights(m * k, seed).iter().map(|v| v * mul).collect();
            for bits in 1..=4 {
                for g in GRANULARITIES {
                    for q in [IntQuantizer::Asymmetric, IntQuantizer::Symmetric] {
                        let t = IntMatrix::quantize_f32(&w, m, k, bits, g, q.with_f16_scales())
                            .unwrap();
                        assert!(t.scales().iter().chain(t.offsets()).all(|&v| is_f16(v)));
                        let bl = t.block_len();
                        for r in 0..m {
                            for c in 0..k {
                                let (s, o) = (t.scale(r, c / bl), t.offset(r, c / bl));
                                let v = w[r * k + c] as f64;
                                let err = (t.weight(r, c) - v).abs();
                                if q == IntQuantizer::Symmetric && bits == 1 {
                                    // ±a with the sign of w.
                                    assert_eq!(t.weight(r, c).signum(), (v as f32).signum() as f64);
                                    assert_eq!(s, -2.0 * o);
                                    continue;
                                }
                                // Rounded so no code clips: within s/2 (and
                                // the f64 evaluation).
                                let tol = s as f64 / 2.0 + 1e-12 * v.abs();
                                assert!(
                                    err <= tol,
                                    "{q:?} bits {bits} {g:?}: w = {v}, got {}, s = {s}, o = {o}",
                                    t.weight(r, c)
                                );
                            }
                        }
                    }
                }
            }
        }
        // Directed rounding at the edges of f16.
        assert_eq!(f16_directed(0.1, true), 0.10003662);
        assert_eq!(f16_directed(0.1, false), 0.099975586);
        assert_eq!(f16_directed(-0.1, false), -0.10003662);
        assert_eq!(f16_directed(1e-9, true), 2f32.powi(-24));
        assert_eq!(f16_directed(-1e-9, true), -0.0);
        assert_eq!(f16_directed(65504.5, false), 65504.0);
        assert_eq!(f16_directed(65504.5, true), f32::INFINITY);
        assert_eq!(f16_directed(-65505.0, true), -65504.0);
        // Beyond f16: a clear error naming the group.
        let e = IntMatrix::quantize_f32(
            &[0.0, 1e6],
            1,
            2,
            4,
            ScaleGranularity::PerRow,
            IntQuantizer::Asymmetric.with_f16_scales(),
        )
        .unwrap_err();
        assert!(msg(e).contains("overflows f16"));
        // Without the option: f32 values, not rounded to f16.
        let w = weights(64, 9);
        let t = IntMatrix::quantize_f32(
            &w,
            1,
            64,
            4,
            ScaleGranularity::PerRow,
            IntQuantizer::Asymmetric,
        )
        .unwrap();
        assert!(!is_f16(t.scales()[0]));
    }

    #[test]
    fn symmetric_error_bound() {
        let (m, k) = (3, 512);
        let w = weights(m * k, 2);
        for bits in 2..=4 {
            let z = 1i32 << (bits - 1);
            let qmax = (1i32 << bits) - 1;
            for g in GRANULARITIES {
                let t =
                    IntMatrix::quantize_f32(&w, m, k, bits, g, IntQuantizer::Symmetric).unwrap();
                let bl = t.block_len();
                let mut checked = 0;
                for r in 0..m {
                    for c in 0..k {
                        let (s, o) = (t.scale(r, c / bl), t.offset(r, c / bl));
                        assert_eq!(o, -(z as f32) * s, "offset is -z·s");
                        let v = w[r * k + c] as f64;
                        let q = t.code(r, c);
                        assert!((0..=qmax).contains(&q));
                        let unclamped = (v / s as f64).round() as i32 + z;
                        if !(0..=qmax).contains(&unclamped) {
                            continue;
                        }
                        assert_eq!(q, unclamped);
                        checked += 1;
                        let err = (t.weight(r, c) - v).abs();
                        let tol = s as f64 / 2.0 + 1e-12 * v.abs();
                        assert!(err <= tol, "bits {bits}, {g:?}: w = {v}, s = {s}");
                    }
                }
                // The clamp only ever bites at the extremes, here never.
                assert_eq!(checked, m * k);
                // Scales are max|w| / (z − 1).
                for r in 0..m {
                    for b in 0..t.blocks_per_row() {
                        let amax = (b * bl..(b + 1) * bl)
                            .map(|c| {
                                if g == ScaleGranularity::PerTensor {
                                    w.iter().copied().fold(0f32, |a, v| a.max(v.abs()))
                                } else {
                                    w[r * k + c].abs()
                                }
                            })
                            .fold(0f32, f32::max);
                        let s = (amax as f64 / (z - 1) as f64) as f32;
                        assert_eq!(t.scale(r, b), s);
                    }
                }
            }
        }
    }

    #[test]
    fn symmetric_one_bit_is_sign_times_absmean() {
        let (m, k) = (3, 512);
        let w = weights(m * k, 3);
        for g in GRANULARITIES {
            let t = IntMatrix::quantize_f32(&w, m, k, 1, g, IntQuantizer::Symmetric).unwrap();
            let bl = t.block_len();
            for r in 0..m {
                for b in 0..t.blocks_per_row() {
                    let group: Vec<f32> = if g == ScaleGranularity::PerTensor {
                        w.clone()
                    } else {
                        w[r * k + b * bl..][..bl].to_vec()
                    };
                    let a = (group.iter().map(|v| v.abs() as f64).sum::<f64>() / group.len() as f64)
                        as f32;
                    assert_eq!(t.scale(r, b), 2.0 * a);
                    assert_eq!(t.offset(r, b), -a);
                }
                for c in 0..k {
                    let v = w[r * k + c];
                    let a = -t.offset(r, c / bl) as f64;
                    assert_eq!(t.code(r, c), (v >= 0.0) as i32);
                    let want = if v >= 0.0 { a } else { -a };
                    assert_eq!(t.weight(r, c), want);
                    // Within s/2 = a of w whenever |w| ≤ 2a.
                    if (v.abs() as f64) <= 2.0 * a {
                        assert!((t.weight(r, c) - v as f64).abs() <= a);
                    }
                }
            }
        }
    }

    #[test]
    fn constant_and_zero_groups() {
        // Row 0: constant 0.75; row 1: zeros; row 2: constant −3.
        let k = 32;
        let mut w = vec![0.75f32; k];
        w.extend(vec![0.0; k]);
        w.extend(vec![-3.0; k]);
        for bits in 1..=4 {
            let a = IntMatrix::quantize_f32(
                &w,
                3,
                k,
                bits,
                ScaleGranularity::PerBlock(16),
                IntQuantizer::Asymmetric,
            )
            .unwrap();
            assert!(a.scales().iter().all(|&s| s == 0.0));
            assert_eq!(a.offsets(), &[0.75, 0.75, 0.0, 0.0, -3.0, -3.0]);
            assert!(a.codes().iter().all(|&q| q == 0));
            assert_eq!(a.dequantize(), w, "constant groups are exact");

            let s = IntMatrix::quantize_f32(
                &w,
                3,
                k,
                bits,
                ScaleGranularity::PerRow,
                IntQuantizer::Symmetric,
            )
            .unwrap();
            let z = if bits == 1 { 0 } else { 1u8 << (bits - 1) };
            assert_eq!((s.scale(1, 0), s.offset(1, 0)), (0.0, 0.0));
            assert!(s.codes()[k..2 * k].iter().all(|&q| q == z));
            let d = s.dequantize();
            assert!(d[k..2 * k].iter().all(|&v| v == 0.0));
            // Nonzero constant groups land on ±max|w| (exactly ±a for 1 bit).
            for (i, (&got, &want)) in d.iter().zip(&w).enumerate() {
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs(),
                    "bits {bits}, index {i}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn tiny_range_gives_zero_scale() {
        // The range is a subnormal that underflows once divided by 15.
        let tiny = f32::from_bits(1);
        let w = [0.0, tiny, 0.0, 0.0];
        let t = IntMatrix::quantize_f32(
            &w,
            1,
            4,
            4,
            ScaleGranularity::PerRow,
            IntQuantizer::Asymmetric,
        )
        .unwrap();
        assert_eq!(t.scales(), &[0.0]);
        assert_eq!(t.codes(), &[0, 0, 0, 0]);
        let t = IntMatrix::quantize_f32(
            &w,
            1,
            4,
            4,
            ScaleGranularity::PerRow,
            IntQuantizer::Symmetric,
        )
        .unwrap();
        assert_eq!((t.scales(), t.offsets()), (&[0.0][..], &[0.0][..]));
        assert_eq!(t.codes(), &[8, 8, 8, 8]);
    }

    #[test]
    fn half_paths_equal_f32_path() {
        let (m, k) = (4, 256);
        let w = weights(m * k, 4);
        let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
        let fh: Vec<f32> = wh.iter().map(|v| v.to_f32()).collect();
        let fb: Vec<f32> = wb.iter().map(|v| v.to_f32()).collect();
        for quantizer in [IntQuantizer::Asymmetric, IntQuantizer::Symmetric] {
            for bits in 1..=4 {
                for g in [ScaleGranularity::PerBlock(32), ScaleGranularity::PerRow] {
                    assert_eq!(
                        IntMatrix::quantize_f16(&wh, m, k, bits, g, quantizer).unwrap(),
                        IntMatrix::quantize_f32(&fh, m, k, bits, g, quantizer).unwrap()
                    );
                    assert_eq!(
                        IntMatrix::quantize_bf16(&wb, m, k, bits, g, quantizer).unwrap(),
                        IntMatrix::quantize_f32(&fb, m, k, bits, g, quantizer).unwrap()
                    );
                }
            }
        }
        // Errors come through too.
        let bad = [f16::from_f32(1.0), f16::NAN];
        assert!(matches!(
            IntMatrix::quantize_f16(
                &bad,
                1,
                2,
                4,
                ScaleGranularity::PerRow,
                IntQuantizer::default()
            ),
            Err(Error::Value(_))
        ));
    }

    #[test]
    fn rejects_wrong_lengths() {
        let g = ScaleGranularity::PerBlock(2);
        let len = |r: Result<IntMatrix>| match r {
            Err(Error::Length {
                what,
                expected,
                got,
            }) => (what, expected, got),
            other => panic!("expected a length error, got {other:?}"),
        };
        assert_eq!(
            len(IntMatrix::new(
                2,
                4,
                2,
                g,
                vec![0; 7],
                vec![1.0; 4],
                vec![0.0; 4]
            )),
            ("integer codes", 8, 7)
        );
        assert_eq!(
            len(IntMatrix::new(
                2,
                4,
                2,
                g,
                vec![0; 8],
                vec![1.0; 2],
                vec![0.0; 4]
            )),
            ("scales", 4, 2)
        );
        assert_eq!(
            len(IntMatrix::new(
                2,
                4,
                2,
                g,
                vec![0; 8],
                vec![1.0; 4],
                vec![0.0; 5]
            )),
            ("offsets", 4, 5)
        );
        assert_eq!(
            len(IntMatrix::with_plane_scales(
                2,
                4,
                2,
                g,
                vec![0; 8],
                vec![1.0; 4],
                vec![0.0; 4]
            )),
            ("plane scales", 8, 4)
        );
        assert_eq!(
            len(IntMatrix::quantize_f32(
                &[0.0; 7],
                2,
                4,
                2,
                g,
                IntQuantizer::Asymmetric
            )),
            ("float weights", 8, 7)
        );
    }

    #[test]
    fn rejects_code_too_large_naming_row_and_column() {
        let mut codes = vec![0u8; 8];
        codes[6] = 4; // row 1, column 2, too large for 2 bits
        let e = IntMatrix::new(
            2,
            4,
            2,
            ScaleGranularity::PerRow,
            codes.clone(),
            vec![1.0; 2],
            vec![0.0; 2],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Value(_)));
        let s = msg(e);
        assert!(
            s.contains("row 1") && s.contains("column 2") && s.contains("code 4"),
            "{s}"
        );
        // 3 is fine for 2 bits, 16 is not for 4 bits, 2 is not for 1 bit.
        codes[6] = 3;
        assert!(
            IntMatrix::new(
                2,
                4,
                2,
                ScaleGranularity::PerRow,
                codes.clone(),
                vec![1.0; 2],
                vec![0.0; 2]
            )
            .is_ok()
        );
        codes[0] = 16;
        let s = msg(IntMatrix::new(
            2,
            4,
            4,
            ScaleGranularity::PerRow,
            codes.clone(),
            vec![1.0; 2],
            vec![0.0; 2],
        )
        .unwrap_err());
        assert!(s.contains("row 0") && s.contains("column 0"), "{s}");
        let s = msg(IntMatrix::with_plane_scales(
            1,
            2,
            1,
            ScaleGranularity::PerRow,
            vec![1, 2],
            vec![1.0],
            vec![0.0],
        )
        .unwrap_err());
        assert!(s.contains("row 0") && s.contains("column 1"), "{s}");
    }

    #[test]
    fn rejects_non_finite_values_naming_index() {
        let g = ScaleGranularity::PerBlock(2);
        let mut scales = vec![1.0f32; 4];
        scales[3] = f32::NAN;
        let e = IntMatrix::new(2, 4, 2, g, vec![0; 8], scales, vec![0.0; 4]).unwrap_err();
        assert!(matches!(e, Error::Value(_)));
        let s = msg(e);
        assert!(s.contains("scale NaN at index 3"), "{s}");
        assert!(s.contains("row 1, block 1"), "{s}");

        let mut offsets = vec![0.0f32; 4];
        offsets[1] = f32::NEG_INFINITY;
        let s = msg(IntMatrix::new(2, 4, 2, g, vec![0; 8], vec![1.0; 4], offsets).unwrap_err());
        assert!(s.contains("offset -inf at index 1"), "{s}");

        let mut planes = vec![1.0f32; 8];
        planes[5] = f32::INFINITY;
        let s = msg(
            IntMatrix::with_plane_scales(2, 4, 2, g, vec![0; 8], planes, vec![0.0; 4]).unwrap_err(),
        );
        assert!(
            s.contains("plane scale inf at index 5") && s.contains("plane 1"),
            "{s}"
        );

        let s = msg(IntMatrix::quantize_f32(
            &[0.0, 1.0, 2.0, f32::NAN],
            2,
            2,
            3,
            ScaleGranularity::PerRow,
            IntQuantizer::Symmetric,
        )
        .unwrap_err());
        assert!(s.contains("row 1, column 1"), "{s}");
    }

    #[test]
    fn rejects_bad_bits_and_shapes() {
        for bits in [0, 5, 8, u32::MAX] {
            assert!(matches!(
                IntMatrix::new(
                    1,
                    2,
                    bits,
                    ScaleGranularity::PerRow,
                    vec![0; 2],
                    vec![1.0],
                    vec![0.0]
                ),
                Err(Error::Value(_))
            ));
            assert!(matches!(
                IntMatrix::with_plane_scales(
                    1,
                    2,
                    bits,
                    ScaleGranularity::PerRow,
                    vec![0; 2],
                    vec![1.0; 4],
                    vec![0.0]
                ),
                Err(Error::Value(_))
            ));
            assert!(matches!(
                IntMatrix::quantize_f32(
                    &[0.0; 2],
                    1,
                    2,
                    bits,
                    ScaleGranularity::PerRow,
                    IntQuantizer::Symmetric
                ),
                Err(Error::Value(_))
            ));
        }
        // A block that does not divide k, and a block of 0.
        for g in [ScaleGranularity::PerBlock(4), ScaleGranularity::PerBlock(0)] {
            assert!(matches!(
                IntMatrix::new(1, 6, 2, g, vec![0; 6], vec![1.0; 2], vec![0.0; 2]),
                Err(Error::Shape(_))
            ));
            assert!(matches!(
                IntMatrix::with_plane_scales(1, 6, 2, g, vec![0; 6], vec![1.0; 4], vec![0.0; 2]),
                Err(Error::Shape(_))
            ));
            assert!(matches!(
                IntMatrix::quantize_f32(&[0.0; 6], 1, 6, 2, g, IntQuantizer::Asymmetric),
                Err(Error::Shape(_))
            ));
        }
        // Empty and too long rows.
        assert!(matches!(
            IntMatrix::new(
                0,
                2,
                2,
                ScaleGranularity::PerTensor,
                vec![],
                vec![1.0],
                vec![0.0]
            ),
            Err(Error::Shape(_))
        ));
        assert!(matches!(
            IntMatrix::quantize_f32(
                &[],
                1,
                0,
                2,
                ScaleGranularity::PerTensor,
                IntQuantizer::Asymmetric
            ),
            Err(Error::Shape(_))
        ));
        let k = super::super::MAX_K + 1;
        assert!(matches!(
            IntMatrix::new(
                1,
                k,
                2,
                ScaleGranularity::PerTensor,
                vec![0; k],
                vec![1.0],
                vec![0.0]
            ),
            Err(Error::Shape(_))
        ));
    }

    #[test]
    fn rejects_groups_beyond_f32_range() {
        let big = [f32::MAX, -f32::MAX];
        // 1-bit asymmetric: s = 2·MAX overflows.
        let s = msg(IntMatrix::quantize_f32(
            &big,
            1,
            2,
            1,
            ScaleGranularity::PerRow,
            IntQuantizer::Asymmetric,
        )
        .unwrap_err());
        assert!(s.contains("row 0") && s.contains("overflows f32"), "{s}");
        // 2-bit symmetric: o = −2·MAX overflows; 1-bit symmetric: s = 2·MAX.
        for bits in [1, 2] {
            assert!(matches!(
                IntMatrix::quantize_f32(
                    &big,
                    1,
                    2,
                    bits,
                    ScaleGranularity::PerTensor,
                    IntQuantizer::Symmetric
                ),
                Err(Error::Value(_))
            ));
        }
        // 4-bit symmetric: o = −8/7·MAX overflows too.
        assert!(matches!(
            IntMatrix::quantize_f32(
                &big,
                1,
                2,
                4,
                ScaleGranularity::PerTensor,
                IntQuantizer::Symmetric
            ),
            Err(Error::Value(_))
        ));
        // 4-bit asymmetric fits (s = 2/15·MAX, o = −MAX), and so does
        // 4-bit symmetric up to max|w| = 7/8·MAX.
        let t = IntMatrix::quantize_f32(
            &big,
            1,
            2,
            4,
            ScaleGranularity::PerRow,
            IntQuantizer::Asymmetric,
        )
        .unwrap();
        assert_eq!(t.dequantize(), big.to_vec());
        let half = [f32::MAX * 0.75, -f32::MAX * 0.75];
        let t = IntMatrix::quantize_f32(
            &half,
            1,
            2,
            4,
            ScaleGranularity::PerRow,
            IntQuantizer::Symmetric,
        )
        .unwrap();
        assert!(t.dequantize().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn plane_scales_dequantize_as_sum_of_bits() {
        // 1 row, 2 blocks of 3, 3 bits; α as [group][plane].
        let alpha = vec![0.5f32, 1.25, -2.0, 3.0, 0.0, 0.125];
        let offsets = vec![0.25f32, -1.0];
        let codes = vec![0u8, 5, 7, 2, 6, 1];
        let t = IntMatrix::with_plane_scales(
            1,
            6,
            3,
            ScaleGranularity::PerBlock(3),
            codes.clone(),
            alpha.clone(),
            offsets.clone(),
        )
        .unwrap();
        assert!(t.has_plane_scales());
        assert_eq!(t.plane_scales(), Some(&alpha[..]));
        assert!(t.scales().is_empty());
        assert_eq!(t.scale(0, 1), 0.0);
        assert_eq!(t.plane_scale(0, 1, 2), Some(0.125));
        let d = t.dequantize();
        for c in 0..6 {
            let g = c / 3;
            let q = codes[c];
            let want: f32 = (0..3)
                .map(|i| ((q >> i) & 1) as f32 * alpha[g * 3 + i])
                .sum::<f32>()
                + offsets[g];
            assert_eq!(d[c], want, "column {c}");
        }
        assert_eq!(d, vec![0.25, -1.25, 0.0, -1.0, -0.875, 2.0]);
    }

    #[test]
    fn uniform_plane_scales_equal_scale_form() {
        let (m, k) = (2, 64);
        let w = weights(m * k, 5);
        for bits in 1..=4 {
            let t = IntMatrix::quantize_f32(
                &w,
                m,
                k,
                bits,
                ScaleGranularity::PerBlock(16),
                IntQuantizer::Asymmetric,
            )
            .unwrap();
            let planes: Vec<f32> = t
                .scales()
                .iter()
                .flat_map(|&s| (0..bits).map(move |i| s * (1u32 << i) as f32))
                .collect();
            let p = IntMatrix::with_plane_scales(
                m,
                k,
                bits,
                t.granularity(),
                t.codes().to_vec(),
                planes,
                t.offsets().to_vec(),
            )
            .unwrap();
            assert_eq!(p.dequantize(), t.dequantize());
        }
    }

    /// `weight()` and `dequantize()` agree bit for bit, in both forms and
    /// every granularity.
    #[test]
    fn dequantize_trait_matches() {
        let (m, k) = (3, 256);
        let w = weights(m * k, 6);
        for bits in 1..=4 {
            for g in GRANULARITIES {
                for quantizer in [IntQuantizer::Asymmetric, IntQuantizer::Symmetric] {
                    let t = IntMatrix::quantize_f32(&w, m, k, bits, g, quantizer).unwrap();
                    let planes: Vec<f32> = t
                        .scales()
                        .iter()
                        .enumerate()
                        .flat_map(|(gi, &s)| {
                            (0..bits).map(move |i| s * (i as f32 + 0.5) - gi as f32 * 0.01)
                        })
                        .collect();
                    let p = IntMatrix::with_plane_scales(
                        m,
                        k,
                        bits,
                        g,
                        t.codes().to_vec(),
                        planes,
                        t.offsets().to_vec(),
                    )
                    .unwrap();
                    for mat in [&t, &p] {
                        let dq: &dyn Dequantize = mat;
                        assert_eq!(dq.m(), m);
                        assert_eq!(dq.k(), k);
                        assert_eq!(dq.format(), Format::int(bits).unwrap());
                        assert_eq!(dq.format().bits(), bits);
                        assert_eq!(dq.group_len(), mat.block_len());
                        assert_eq!(dq.groups_per_row(), mat.blocks_per_row());
                        let d = mat.dequantize();
                        assert_eq!(d.len(), m * k);
                        for r in 0..m {
                            for c in 0..k {
                                assert_eq!(dq.code(r, c), mat.codes()[r * k + c] as i32);
                                assert_eq!(
                                    d[r * k + c].to_bits(),
                                    (dq.weight(r, c) as f32).to_bits(),
                                    "bits {bits}, {g:?}, ({r}, {c})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
