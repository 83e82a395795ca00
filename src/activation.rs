//! Per-token int8 activation quantization for the exact contract.
//!
//! For token `t` (a row of `X`, length k): `amax = max|x|`,
//! `q = round(x · (127 / amax))` (f32 arithmetic, ties away from zero),
//! `d_t = amax / 127`, so `x ≈ d_t · q`. A token of zeros gets `q = 0`,
//! `d = 0`. NaN or ±Inf anywhere is rejected with [`Error::NonFinite`]
//! (policy: a non-finite activation has no meaningful int8 image, and
//! silently producing NaN rows hides upstream bugs).

use crate::error::{Error, Result};
use half::{bf16, f16};

/// Activation element types accepted by the float entry points.
pub trait ActivationElem: Copy + Send + Sync + 'static {
    /// Converts to f32 (exact for f16/bf16).
    fn to_f32(self) -> f32;
}
impl ActivationElem for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}
impl ActivationElem for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}
impl ActivationElem for bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}

/// Quantizes one token `x` (length k) into `q` (length k); returns `d`.
/// `token` only labels errors.
pub fn quantize_token<T: ActivationElem>(x: &[T], q: &mut [i8], token: usize) -> Result<f32> {
    debug_assert_eq!(x.len(), q.len());
    let mut amax = 0f32;
    let mut finite = true;
    for &v in x {
        let v = v.to_f32();
        finite &= v.is_finite();
        amax = amax.max(v.abs());
    }
    if !finite {
        let index = x.iter().position(|v| !v.to_f32().is_finite()).unwrap_or(0);
        return Err(Error::NonFinite { token, index });
    }
    if amax == 0.0 {
        q.fill(0);
        return Ok(0.0);
    }
    let s = 127.0f32 / amax;
    for (qi, &v) in q.iter_mut().zip(x) {
        // |v·s| ≤ 127 up to rounding of s; the clamp keeps −128 out.
        *qi = (v.to_f32() * s).round().clamp(-127.0, 127.0) as i8;
    }
    Ok(amax / 127.0)
}

/// Checks caller-supplied int8 activations: −128 is rejected because every
/// overflow bound in the kernels is proved for |q| ≤ 127.
pub fn check_int8(q: &[i8], k: usize) -> Result<()> {
    if let Some(i) = q.iter().position(|&v| v == i8::MIN) {
        return Err(Error::Value(format!(
            "int8 activation -128 at token {}, index {} (the exact contract uses [-127, 127])",
            i / k,
            i % k
        )));
    }
    Ok(())
}
