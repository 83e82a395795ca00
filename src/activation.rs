//! Per-token int8 activation quantization for the Exact contract: what is
//! computed, exactly (every entry point's docs link here).
//!
//! For token `t` (a row of `X`, length k), in f32 arithmetic:
//!
//! - `amax = max_c |x[c]|` (f16/bf16 inputs are first converted to f32,
//!   exactly);
//! - `s = 127 / amax`, rounded to f32;
//! - `q[c] = round(x[c] · s)`, the product rounded to f32 and then to the
//!   nearest integer with ties away from zero (so `q ∈ [−127, 127]`);
//! - `d_t = amax / 127`, rounded to f32, and `x ≈ d_t · q`.
//!
//! This is not `round(x / d_t)`: the two can differ by one near ties. A
//! token of zeros, or one so small that `s` overflows f32 (amax below
//! `127 / f32::MAX ≈ 3.7e-37`), counts as zero: `q = 0`, `d_t = 0`. NaN or
//! ±Inf anywhere is rejected with [`Error::NonFinite`] (policy: a
//! non-finite activation has no meaningful int8 image, and silently
//! producing NaN rows hides upstream bugs). [`crate::reference::quantize_activations`]
//! computes the same, and tests hold every entry point to it.

use crate::error::{Error, Result};
use half::{bf16, f16};

/// Activation element types accepted by the float entry points.
pub trait ActivationElem: Copy + Send + Sync + 'static {
    /// Converts `src` to f32 into `dst` (same length; exact for f16/bf16).
    fn to_f32_slice(src: &[Self], dst: &mut [f32]);
}
impl ActivationElem for f32 {
    #[inline(always)]
    fn to_f32_slice(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}
impl ActivationElem for f16 {
    #[inline(always)]
    fn to_f32_slice(src: &[f16], dst: &mut [f32]) {
        // half picks F16C at run time when the CPU has it.
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(src, dst);
    }
}
impl ActivationElem for bf16 {
    #[inline(always)]
    fn to_f32_slice(src: &[bf16], dst: &mut [f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits((s.to_bits() as u32) << 16);
        }
    }
}

/// Values converted per step: a stack buffer that stays in L1.
const CHUNK: usize = 256;

/// `round(v)` with ties away from zero, clamped to [−127, 127]; equal to
/// `v.round().clamp(-127.0, 127.0) as i8` for every `v` it is called with,
/// but, unlike `f32::round` on baseline x86-64 (a libm call) and the
/// saturating `as i32`, it vectorizes.
///
/// Callers guarantee `v` is finite with `|v| < 2^23`.
#[inline(always)]
pub(crate) fn round_to_i8(v: f32) -> i8 {
    debug_assert!(v.is_finite() && v.abs() < 8388608.0);
    // SAFETY: finite and well inside i32 (caller contract): truncation
    // toward zero is defined.
    let t: i32 = unsafe { v.to_int_unchecked() };
    // Exact: t and v have the same sign and |t| ≤ |v| < 2^23.
    let frac = v - t as f32;
    let r = t + (frac >= 0.5) as i32 - (frac <= -0.5) as i32;
    r.clamp(-127, 127) as i8
}

/// Quantizes one token `x` (length k) into `q` (length k) as the module
/// docs say; returns `d`. `token` only labels errors. `isa` is the ISA of
/// the call's kernel (so `LUTGEMM_ISA=scalar` runs no SIMD code here
/// either); every ISA gives the same bits.
pub(crate) fn quantize_token<T: ActivationElem>(
    x: &[T],
    q: &mut [i8],
    token: usize,
    isa: crate::isa::Isa,
) -> Result<f32> {
    let _ = isa; // only x86 has a SIMD build of this loop
    #[cfg(target_arch = "x86_64")]
    if isa.has_avx2() && crate::isa::Isa::Avx2.is_detected() {
        // SAFETY: the ISA is available (checked when packing), and it
        // includes AVX2/FMA/F16C.
        return unsafe { quantize_token_avx2(x, q, token) };
    }
    quantize_token_body(x, q, token)
}

/// The same code compiled for AVX2, so the loops vectorize 8 wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_token_avx2<T: ActivationElem>(
    x: &[T],
    q: &mut [i8],
    token: usize,
) -> Result<f32> {
    quantize_token_body(x, q, token)
}

#[inline(always)]
fn quantize_token_body<T: ActivationElem>(x: &[T], q: &mut [i8], token: usize) -> Result<f32> {
    debug_assert_eq!(x.len(), q.len());
    let mut buf = [0f32; CHUNK];
    // Max of |v| as bits: for finite floats the bit order is the magnitude
    // order, and NaN/±Inf compare above every finite value.
    let mut amax_bits = 0u32;
    for chunk in x.chunks(CHUNK) {
        let b = &mut buf[..chunk.len()];
        T::to_f32_slice(chunk, b);
        for &v in b.iter() {
            amax_bits = amax_bits.max(v.to_bits() & 0x7fff_ffff);
        }
    }
    if amax_bits >= 0x7f80_0000 {
        let mut index = 0;
        for (c, chunk) in x.chunks(CHUNK).enumerate() {
            let b = &mut buf[..chunk.len()];
            T::to_f32_slice(chunk, b);
            if let Some(i) = b.iter().position(|v| !v.is_finite()) {
                index = c * CHUNK + i;
                break;
            }
        }
        return Err(Error::NonFinite { token, index });
    }
    let amax = f32::from_bits(amax_bits);
    let s = 127.0f32 / amax;
    if !s.is_finite() {
        // amax is 0, or so small (< 127 / f32::MAX ≈ 3.7e-37) that the
        // scale overflows: the token counts as zero.
        q.fill(0);
        return Ok(0.0);
    }
    for (qc, chunk) in q.chunks_mut(CHUNK).zip(x.chunks(CHUNK)) {
        let b = &mut buf[..chunk.len()];
        T::to_f32_slice(chunk, b);
        for (qi, &v) in qc.iter_mut().zip(b.iter()) {
            // |v| ≤ amax and s = 127 / amax: |v·s| ≤ 127·(1 + 2⁻²³), finite.
            *qi = round_to_i8(v * s);
        }
    }
    Ok(amax / 127.0)
}

/// Checks caller-supplied int8 activations: −128 is rejected because every
/// overflow bound in the kernels is proved for |q| ≤ 127.
pub(crate) fn check_int8(q: &[i8], k: usize) -> Result<()> {
    // A branch-free scan first (it vectorizes); locate only on failure.
    if !q.iter().fold(false, |bad, &v| bad | (v == i8::MIN)) {
        return Ok(());
    }
    if let Some(i) = q.iter().position(|&v| v == i8::MIN) {
        return Err(Error::Value(format!(
            "int8 activation -128 at token {}, index {} (the exact contract uses [-127, 127])",
            i / k,
            i % k
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_to_i8_matches_f32_round() {
        let mut vals = vec![
            0.0f32, -0.0, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 127.0, 127.49,
        ];
        for i in -1270..=1270 {
            let v = i as f32 / 10.0;
            for w in [
                v,
                f32::from_bits(v.to_bits() + 1),
                f32::from_bits(v.to_bits().max(1) - 1),
            ] {
                vals.push(w);
            }
        }
        vals.push(f32::from_bits(0.5f32.to_bits() - 1));
        vals.push(-f32::from_bits(0.5f32.to_bits() - 1));
        for v in vals {
            assert_eq!(round_to_i8(v), v.round().clamp(-127.0, 127.0) as i8, "{v}");
        }
    }

    #[test]
    fn quantize_matches_reference_for_every_type() {
        let x: Vec<f32> = (0..1000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.37)
            .collect();
        let (want, d) = crate::reference::quantize_activations(&x, 1, x.len());
        let mut q = vec![0i8; x.len()];
        assert_eq!(
            quantize_token(&x, &mut q, 0, crate::isa::Isa::best()).unwrap(),
            d[0]
        );
        assert_eq!(q, want);
        let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
        let back: Vec<f32> = xh.iter().map(|v| v.to_f32()).collect();
        let (want, d) = crate::reference::quantize_activations(&back, 1, x.len());
        assert_eq!(
            quantize_token(&xh, &mut q, 0, crate::isa::Isa::Scalar).unwrap(),
            d[0]
        );
        assert_eq!(q, want);
        let xb: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
        let back: Vec<f32> = xb.iter().map(|v| v.to_f32()).collect();
        let (want, d) = crate::reference::quantize_activations(&back, 1, x.len());
        assert_eq!(
            quantize_token(&xb, &mut q, 0, crate::isa::Isa::best()).unwrap(),
            d[0]
        );
        assert_eq!(q, want);
    }

    #[test]
    fn non_finite_is_located() {
        let mut x = vec![1.0f32; 700];
        x[513] = f32::NAN;
        let mut q = vec![0i8; 700];
        assert_eq!(
            quantize_token(&x, &mut q, 4, crate::isa::Isa::best()),
            Err(Error::NonFinite {
                token: 4,
                index: 513
            })
        );
    }
}
