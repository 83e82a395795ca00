//! Ternary weights: codes in {−1, 0, +1} times a scale.
//!
//! `W` is `m × k` (out_features × in_features), row-major. The scale is per
//! tensor (BitNet b1.58's absmean), per row, or per block of `block` weights
//! along k (llama.cpp TQ1_0/TQ2_0 use an f16 scale per 256).

use super::{Dequantize, Format, check_dims};
use crate::activation::ActivationElem;
use crate::error::{Error, Result, check_len};
use half::{bf16, f16};

pub use super::MAX_K;

/// How many weights share one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleGranularity {
    /// One scale for the whole matrix.
    PerTensor,
    /// One scale per row of `W` (per output feature).
    PerRow,
    /// One scale per `block` consecutive weights of a row; `block` must
    /// divide `k`.
    PerBlock(usize),
}

/// A ternary weight matrix in its user-facing form.
#[derive(Debug, Clone, PartialEq)]
pub struct TernaryMatrix {
    m: usize,
    k: usize,
    /// m × k, row-major, each in {−1, 0, +1}.
    codes: Vec<i8>,
    /// 1 (per tensor), m (per row), or m × (k / block) (per block, row-major).
    scales: Vec<f32>,
    granularity: ScaleGranularity,
}

impl ScaleGranularity {
    /// Length of one scale block along k, for a row of length `k` (the
    /// block size as given for `PerBlock`, even if it is invalid for `k`:
    /// see [`ScaleGranularity::validate`]).
    pub fn block_len(self, k: usize) -> usize {
        match self {
            ScaleGranularity::PerTensor | ScaleGranularity::PerRow => k,
            ScaleGranularity::PerBlock(b) => b,
        }
    }

    /// Number of scales (and offsets) for an `m × k` matrix; an error when
    /// the granularity is invalid for `k` (a block of 0, or one that does
    /// not divide `k`) or the count overflows.
    pub fn scale_count(self, m: usize, k: usize) -> Result<usize> {
        self.validate(k)?;
        match self {
            ScaleGranularity::PerTensor => Ok(1),
            ScaleGranularity::PerRow => Ok(m),
            ScaleGranularity::PerBlock(b) => m
                .checked_mul(k / b)
                .ok_or_else(|| Error::Shape(format!("{m} rows × {} blocks overflow", k / b))),
        }
    }

    /// `Ok` when every row of length `k` splits into whole blocks.
    pub fn validate(self, k: usize) -> Result<()> {
        if let ScaleGranularity::PerBlock(b) = self {
            if b == 0 || k % b != 0 {
                return Err(Error::Shape(format!(
                    "k = {k} is not a multiple of the scale block size {b}"
                )));
            }
        }
        Ok(())
    }

    /// Index into a scales vector of this granularity for (row, block).
    pub(crate) fn index(self, r: usize, b: usize, blocks_per_row: usize) -> usize {
        match self {
            ScaleGranularity::PerTensor => 0,
            ScaleGranularity::PerRow => r,
            ScaleGranularity::PerBlock(_) => r * blocks_per_row + b,
        }
    }
}

impl TernaryMatrix {
    /// Builds a matrix from codes (m × k, row-major, each −1, 0 or +1) and
    /// scales (count given by [`ScaleGranularity::scale_count`]; finite).
    pub fn new(
        m: usize,
        k: usize,
        codes: Vec<i8>,
        scales: Vec<f32>,
        granularity: ScaleGranularity,
    ) -> Result<Self> {
        check_dims(m, k)?;
        granularity.validate(k)?;
        check_len("ternary codes", m * k, codes.len())?;
        check_len("scales", granularity.scale_count(m, k)?, scales.len())?;
        if let Some(i) = codes.iter().position(|&c| !(-1..=1).contains(&c)) {
            return Err(Error::Value(format!(
                "ternary code {} at row {}, column {} is not in {{-1, 0, 1}}",
                codes[i],
                i / k,
                i % k
            )));
        }
        if let Some(i) = scales.iter().position(|s| !s.is_finite()) {
            return Err(Error::Value(format!(
                "scale {} at index {i} is not finite",
                scales[i]
            )));
        }
        Ok(TernaryMatrix {
            m,
            k,
            codes,
            scales,
            granularity,
        })
    }

    /// Quantizes float weights (m × k, row-major) the BitNet b1.58 way:
    /// per scale group, `s = mean|w|`, codes `clamp(round(w / s), −1, 1)`.
    /// A group that is all zeros gets scale 0 and codes 0. NaN/Inf weights
    /// are rejected.
    pub fn quantize_f32(
        w: &[f32],
        m: usize,
        k: usize,
        granularity: ScaleGranularity,
    ) -> Result<Self> {
        check_dims(m, k)?;
        granularity.validate(k)?;
        check_len("float weights", m * k, w.len())?;
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::Value(format!(
                "weight at row {}, column {} is not finite",
                i / k,
                i % k
            )));
        }
        let bl = granularity.block_len(k);
        // Absmean per group, accumulated in f64 so it does not depend on order.
        let absmean = |vals: &mut dyn Iterator<Item = f32>, count: usize| -> f32 {
            (vals.map(|v| v.abs() as f64).sum::<f64>() / count as f64) as f32
        };
        let scales: Vec<f32> = match granularity {
            ScaleGranularity::PerTensor => vec![absmean(&mut w.iter().copied(), m * k)],
            ScaleGranularity::PerRow => w
                .chunks_exact(k)
                .map(|r| absmean(&mut r.iter().copied(), k))
                .collect(),
            ScaleGranularity::PerBlock(b) => w
                .chunks_exact(b)
                .map(|r| absmean(&mut r.iter().copied(), b))
                .collect(),
        };
        let mut codes = vec![0i8; m * k];
        for (i, (c, &v)) in codes.iter_mut().zip(w).enumerate() {
            let s = match granularity {
                ScaleGranularity::PerTensor => scales[0],
                ScaleGranularity::PerRow => scales[i / k],
                ScaleGranularity::PerBlock(_) => scales[i / bl],
            };
            *c = if s > 0.0 {
                (v / s).round().clamp(-1.0, 1.0) as i8
            } else {
                0
            };
        }
        TernaryMatrix::new(m, k, codes, scales, granularity)
    }

    /// [`TernaryMatrix::quantize_f32`] from f16 weights.
    pub fn quantize_f16(
        w: &[f16],
        m: usize,
        k: usize,
        granularity: ScaleGranularity,
    ) -> Result<Self> {
        Self::quantize_converted(w, m, k, granularity)
    }

    /// [`TernaryMatrix::quantize_f32`] from bf16 weights.
    pub fn quantize_bf16(
        w: &[bf16],
        m: usize,
        k: usize,
        granularity: ScaleGranularity,
    ) -> Result<Self> {
        Self::quantize_converted(w, m, k, granularity)
    }

    fn quantize_converted<T: ActivationElem>(
        w: &[T],
        m: usize,
        k: usize,
        granularity: ScaleGranularity,
    ) -> Result<Self> {
        let mut f = vec![0f32; w.len()];
        T::to_f32_slice(w, &mut f);
        Self::quantize_f32(&f, m, k, granularity)
    }

    /// Rows (out_features).
    pub fn m(&self) -> usize {
        self.m
    }
    /// Columns (in_features).
    pub fn k(&self) -> usize {
        self.k
    }
    /// Codes, m × k row-major.
    pub fn codes(&self) -> &[i8] {
        &self.codes
    }
    /// Scales as given (see [`ScaleGranularity::scale_count`]).
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }
    /// Scale granularity.
    pub fn granularity(&self) -> ScaleGranularity {
        self.granularity
    }
    /// Length of one scale block along k.
    pub fn block_len(&self) -> usize {
        self.granularity.block_len(self.k)
    }
    /// Scale blocks per row.
    pub fn blocks_per_row(&self) -> usize {
        self.k / self.block_len()
    }
    /// The scale of block `b` of row `r`.
    pub fn scale(&self, r: usize, b: usize) -> f32 {
        self.scales[self.granularity.index(r, b, self.blocks_per_row())]
    }
    /// Dequantized weights, m × k row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let bl = self.block_len();
        let mut out = Vec::with_capacity(self.m * self.k);
        for r in 0..self.m {
            for c in 0..self.k {
                out.push(self.codes[r * self.k + c] as f32 * self.scale(r, c / bl));
            }
        }
        out
    }
}

impl Dequantize for TernaryMatrix {
    fn m(&self) -> usize {
        self.m
    }
    fn k(&self) -> usize {
        self.k
    }
    fn format(&self) -> Format {
        Format::Ternary
    }
    fn group_len(&self) -> usize {
        self.block_len()
    }
    #[inline]
    fn code(&self, r: usize, c: usize) -> i32 {
        self.codes[r * self.k + c] as i32
    }
    fn scale(&self, r: usize, g: usize) -> f32 {
        TernaryMatrix::scale(self, r, g)
    }
    fn offset(&self, _r: usize, _g: usize) -> f32 {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_absmean_per_tensor() {
        let w = [0.5f32, -1.5, 0.1, 2.0, 0.0, -0.2];
        let t = TernaryMatrix::quantize_f32(&w, 2, 3, ScaleGranularity::PerTensor).unwrap();
        let s = (0.5 + 1.5 + 0.1 + 2.0 + 0.0 + 0.2) / 6.0;
        assert!((t.scales()[0] - s).abs() < 1e-6);
        // 0.5/0.7167 = 0.70 -> 1; -1.5/s -> -1 (clamped); 0.1/s -> 0; ...
        assert_eq!(t.codes(), &[1, -1, 0, 1, 0, 0]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            TernaryMatrix::new(
                2,
                2,
                vec![0, 1, 2, 0],
                vec![1.0],
                ScaleGranularity::PerTensor
            ),
            Err(Error::Value(_))
        ));
        assert!(matches!(
            TernaryMatrix::new(2, 2, vec![0; 3], vec![1.0], ScaleGranularity::PerTensor),
            Err(Error::Length { .. })
        ));
        assert!(matches!(
            TernaryMatrix::new(0, 2, vec![], vec![1.0], ScaleGranularity::PerTensor),
            Err(Error::Shape(_))
        ));
        assert!(matches!(
            TernaryMatrix::new(
                1,
                6,
                vec![0; 6],
                vec![1.0; 2],
                ScaleGranularity::PerBlock(4)
            ),
            Err(Error::Shape(_))
        ));
        assert!(matches!(
            TernaryMatrix::new(
                1,
                2,
                vec![0; 2],
                vec![f32::NAN],
                ScaleGranularity::PerTensor
            ),
            Err(Error::Value(_))
        ));
        assert!(matches!(
            TernaryMatrix::quantize_f32(&[1.0, f32::INFINITY], 1, 2, ScaleGranularity::PerRow),
            Err(Error::Value(_))
        ));
    }

    #[test]
    fn dequantize_per_block() {
        let t = TernaryMatrix::new(
            1,
            4,
            vec![1, -1, 0, 1],
            vec![2.0, 3.0],
            ScaleGranularity::PerBlock(2),
        )
        .unwrap();
        assert_eq!(t.dequantize(), vec![2.0, -2.0, 0.0, 3.0]);
    }
}
