//! llama.cpp's GGUF block types: import of TQ1_0, TQ2_0, Q4_0, Q4_K and
//! Q2_K, export of TQ1_0, TQ2_0 and Q4_0, without loss.
//!
//! A GGUF tensor of `m × k` weights (GGUF's `ne = [k, m]`) is stored row
//! after row, each row a run of `k / block_len` consecutive blocks (so `k`
//! must be a multiple of the block length). [`import`] turns the bytes into
//! a [`TernaryMatrix`] or an [`IntMatrix`] whose block scales and mins are
//! the group scales and offsets, exactly: every weight lutgemm dequantizes
//! is the f32 that llama.cpp's `dequantize_row_*` computes (up to the sign
//! of a zero for Q4_0, below). [`export`] writes the bytes back;
//! `export(ty, &import(ty, b, m, k)?) == b` for every block `import`
//! accepts.
//!
//! | type  | weights/block | bytes/block | layout (little endian)                               | lutgemm form                                   |
//! |-------|---------------|-------------|-------------------------------------------------------|------------------------------------------------|
//! | TQ1_0 | 256           | 54          | `qs[48]` (5 trits/byte), `qh[4]` (4 trits/byte), `d`  | ternary, `PerBlock(256)`, scale `d`            |
//! | TQ2_0 | 256           | 66          | `qs[64]` (4 × 2 bits/byte), `d`                       | ternary, `PerBlock(256)`, scale `d`            |
//! | Q4_0  | 32            | 18          | `d`, `qs[16]` (2 nibbles/byte)                        | 4-bit, groups of 32, `s = d`, `o = −8·d`       |
//! | Q4_K  | 256           | 144         | `d`, `dmin`, `scales[12]` (8 × 6+6 bits), `qs[128]`   | 4-bit, groups of 32, `s = d·sc`, `o = −dmin·m` |
//! | Q2_K  | 256           | 84          | `scales[16]` (4+4 bits), `qs[64]`, `d`, `dmin`        | 2-bit, groups of 16, `s = d·(sc & 15)`, `o = −dmin·(sc >> 4)` |
//!
//! `d` and `dmin` are IEEE binary16. Weight order inside a block, as
//! llama.cpp's reference `dequantize_row_*` reads it:
//!
//! - **Q4_0**: byte `i < 16` holds weight `i` (low nibble) and `i + 16`
//!   (high nibble); `w = (q − 8)·d`.
//! - **Q4_K**: byte `i < 128` of `qs` holds weight `64·(i / 32) + i % 32`
//!   (low nibble) and that plus 32 (high nibble); sub-block `j < 8` (32
//!   weights) has the 6-bit scale `sc_j` and min `m_j` packed as in
//!   llama.cpp's `get_scale_min_k4`: for `j < 4`, `sc = scales[j] & 63`,
//!   `m = scales[j + 4] & 63`; for `j ≥ 4`, `sc = (scales[j + 4] & 15) |
//!   (scales[j − 4] >> 6) << 4`, `m = (scales[j + 4] >> 4) | (scales[j] >> 6)
//!   << 4`; `w = (d·sc)·q − dmin·m`.
//! - **Q2_K** and **TQ2_0**: bit pair `s < 4` (bits `2s, 2s + 1`) of byte
//!   `i` of `qs` holds weight `128·(i / 32) + 32·s + i % 32`. Q2_K: sub-block
//!   `j < 16` (16 weights) uses `scales[j]`, `w = (d·(sc & 15))·q −
//!   dmin·(sc >> 4)`. TQ2_0: `w = (q − 1)·d`; the value `q = 3` is not
//!   ternary and is rejected.
//! - **TQ1_0**: five trits per byte in `qs`, four in `qh`, in base 3 scaled
//!   to a byte: trits `t_0 … t_4` (digit `t_0` most significant, value
//!   `v = Σ t_n·3^(4 − n)`, the missing `t_4` of a `qh` byte is 0) are
//!   stored as `⌈v·256 / 243⌉`, and trit `n` of byte `b` is read back as
//!   `((b·3^n mod 256)·3) >> 8`. Byte `i < 32` of `qs` holds weights
//!   `i + 32·n` (n < 5), byte `32 + i` (`i < 16`) holds `160 + i + 16·n`,
//!   byte `i < 4` of `qh` holds `240 + i + 4·n` (n < 4); `w = (t − 1)·d`.
//!
//! # Exactness
//!
//! binary16 has 11 significant bits and every binary16 value (subnormals
//! included) is a normal f32. Hence the products llama.cpp forms in f32,
//! `d·sc` and `dmin·m` with 6-bit `sc`, `m` (Q4_K: at most 11 + 6 = 17
//! significant bits), `d·(sc & 15)` and `dmin·(sc >> 4)` (Q2_K: 15 bits),
//! and `−8·d` (a power of two), are exact in f32: they are the stored group
//! scales and offsets, no rounding involved. The weight `s·q + o` is then
//! exact in f64 (at most 21 significant bits for `s·q`, and all terms are
//! multiples of 2⁻²⁴ below 2²⁷, so the sum needs at most 51 bits), and
//! rounding it once to f32, as [`IntMatrix::dequantize`] does, gives the
//! correctly rounded `s·q − dmin·m` that llama.cpp's single f32
//! subtraction gives (a fused multiply-add gives it too, as `s·q` is
//! exact). Ternary weights `t·d` are exact in f32.
//!
//! The one difference is the sign of a zero weight in Q4_0: llama.cpp
//! computes `(q − 8)·d`, which is `−0.0` for `q = 8` and a negative `d`,
//! while `d·8 + (−8·d)` is `+0.0`. The values compare equal.
//!
//! # Validity
//!
//! [`import`] rejects with [`Error::Value`] (naming row and block) a
//! non-finite `d` or `dmin`, the 2-bit value 3 in TQ2_0, and TQ1_0 bytes
//! llama.cpp never writes. Every byte decodes to trits in {0, 1, 2} under
//! the read-back formula above (no "trit > 2" is possible), but 13 of the
//! 256 `qs` byte values and 175 of the 256 `qh` values are aliases: they
//! read back as the trits of a different byte (e.g. `qs` byte 1 reads as
//! five zeros, which llama.cpp writes as 0). They have no exact round trip,
//! so they are rejected as invalid codes.

use super::{Dequantize, Format, IntMatrix, ScaleGranularity, TernaryMatrix, check_dims};
use crate::error::{Error, Result, check_len};
use half::f16;
use std::fmt;

/// Weights per super-block of the K-quants and the TQ types.
const QK_K: usize = 256;

/// A llama.cpp block type lutgemm reads (all five) or writes (TQ1_0,
/// TQ2_0, Q4_0). See the [module docs](self) for the layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GgufType {
    /// Ternary, 1.6875 bits per weight: base-3 packed trits, f16 scale per
    /// 256.
    Tq1_0,
    /// Ternary, 2.0625 bits per weight: 2-bit codes, f16 scale per 256.
    Tq2_0,
    /// 4-bit, 4.5 bits per weight: `(q − 8)·d` with an f16 `d` per 32.
    Q4_0,
    /// 4-bit K-quant, 4.5 bits per weight: per 256, f16 `d` and `dmin`;
    /// per 32, 6-bit scale and min.
    Q4K,
    /// 2-bit K-quant, 2.625 bits per weight: per 256, f16 `d` and `dmin`;
    /// per 16, 4-bit scale and min.
    Q2K,
}

impl GgufType {
    /// Every type.
    pub const ALL: [GgufType; 5] = [
        GgufType::Tq1_0,
        GgufType::Tq2_0,
        GgufType::Q4_0,
        GgufType::Q4K,
        GgufType::Q2K,
    ];

    /// llama.cpp's name: `"TQ1_0"`, `"TQ2_0"`, `"Q4_0"`, `"Q4_K"`, `"Q2_K"`.
    pub fn name(self) -> &'static str {
        match self {
            GgufType::Tq1_0 => "TQ1_0",
            GgufType::Tq2_0 => "TQ2_0",
            GgufType::Q4_0 => "Q4_0",
            GgufType::Q4K => "Q4_K",
            GgufType::Q2K => "Q2_K",
        }
    }

    /// Parses [`GgufType::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<GgufType> {
        GgufType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The `ggml_type` id stored in GGUF tensor infos.
    pub fn ggml_type(self) -> u32 {
        match self {
            GgufType::Q4_0 => 2,
            GgufType::Q2K => 10,
            GgufType::Q4K => 12,
            GgufType::Tq1_0 => 34,
            GgufType::Tq2_0 => 35,
        }
    }

    /// The type of a `ggml_type` id, if lutgemm reads it.
    pub fn from_ggml_type(id: u32) -> Option<GgufType> {
        GgufType::ALL.into_iter().find(|t| t.ggml_type() == id)
    }

    /// Weights per block.
    pub fn block_len(self) -> usize {
        match self {
            GgufType::Q4_0 => 32,
            GgufType::Tq1_0 | GgufType::Tq2_0 | GgufType::Q4K | GgufType::Q2K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            GgufType::Tq1_0 => 48 + 4 + 2,
            GgufType::Tq2_0 => 64 + 2,
            GgufType::Q4_0 => 2 + 16,
            GgufType::Q4K => 2 + 2 + 12 + 128,
            GgufType::Q2K => 16 + 64 + 2 + 2,
        }
    }

    /// Whether [`export`] writes this type (TQ1_0, TQ2_0 and Q4_0).
    pub fn exportable(self) -> bool {
        matches!(self, GgufType::Tq1_0 | GgufType::Tq2_0 | GgufType::Q4_0)
    }

    /// Bytes of an `m × k` tensor of this type.
    ///
    /// Errors: [`Error::Shape`] for an empty or too large shape, or a `k`
    /// that is not a multiple of [`GgufType::block_len`].
    pub fn tensor_bytes(self, m: usize, k: usize) -> Result<usize> {
        check_dims(m, k)?;
        let bl = self.block_len();
        if k % bl != 0 {
            return Err(Error::Shape(format!(
                "{self} rows hold whole blocks of {bl} weights, but k = {k} is not a multiple \
                 of {bl}"
            )));
        }
        // check_dims bounds m·k, and every type has more than 1.7 weights per
        // byte: no overflow.
        Ok(m * (k / bl) * self.block_bytes())
    }

    /// The Length error's name for the byte slice.
    fn bytes_what(self) -> &'static str {
        match self {
            GgufType::Tq1_0 => "TQ1_0 bytes",
            GgufType::Tq2_0 => "TQ2_0 bytes",
            GgufType::Q4_0 => "Q4_0 bytes",
            GgufType::Q4K => "Q4_K bytes",
            GgufType::Q2K => "Q2_K bytes",
        }
    }
}

impl fmt::Display for GgufType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Imported GGUF weights: ternary for TQ1_0 and TQ2_0, integer for Q4_0,
/// Q4_K and Q2_K. Packs and multiplies like the matrix inside (it
/// implements [`Dequantize`] by delegation).
#[derive(Debug, Clone, PartialEq)]
pub enum GgufWeights {
    /// TQ1_0 / TQ2_0: `PerBlock(256)` scales.
    Ternary(TernaryMatrix),
    /// Q4_0 / Q4_K (4-bit, groups of 32), Q2_K (2-bit, groups of 16).
    Int(IntMatrix),
}

impl GgufWeights {
    /// The matrix as a [`Dequantize`] trait object.
    pub fn as_dequantize(&self) -> &dyn Dequantize {
        match self {
            GgufWeights::Ternary(t) => t,
            GgufWeights::Int(t) => t,
        }
    }

    /// The ternary matrix, for TQ1_0 and TQ2_0.
    pub fn ternary(&self) -> Option<&TernaryMatrix> {
        match self {
            GgufWeights::Ternary(t) => Some(t),
            GgufWeights::Int(_) => None,
        }
    }

    /// The integer matrix, for Q4_0, Q4_K and Q2_K.
    pub fn int(&self) -> Option<&IntMatrix> {
        match self {
            GgufWeights::Ternary(_) => None,
            GgufWeights::Int(t) => Some(t),
        }
    }

    /// Dequantized weights, m × k row-major: [`TernaryMatrix::dequantize`]
    /// or [`IntMatrix::dequantize`], which equal llama.cpp's
    /// `dequantize_row_*` (see the [module docs](self)).
    pub fn dequantize(&self) -> Vec<f32> {
        match self {
            GgufWeights::Ternary(t) => t.dequantize(),
            GgufWeights::Int(t) => t.dequantize(),
        }
    }
}

impl From<TernaryMatrix> for GgufWeights {
    fn from(t: TernaryMatrix) -> Self {
        GgufWeights::Ternary(t)
    }
}

impl From<IntMatrix> for GgufWeights {
    fn from(t: IntMatrix) -> Self {
        GgufWeights::Int(t)
    }
}

impl Dequantize for GgufWeights {
    fn m(&self) -> usize {
        self.as_dequantize().m()
    }
    fn k(&self) -> usize {
        self.as_dequantize().k()
    }
    fn format(&self) -> Format {
        self.as_dequantize().format()
    }
    fn group_len(&self) -> usize {
        self.as_dequantize().group_len()
    }
    #[inline]
    fn code(&self, r: usize, c: usize) -> i32 {
        match self {
            GgufWeights::Ternary(t) => Dequantize::code(t, r, c),
            GgufWeights::Int(t) => Dequantize::code(t, r, c),
        }
    }
    fn scale(&self, r: usize, g: usize) -> f32 {
        self.as_dequantize().scale(r, g)
    }
    fn offset(&self, r: usize, g: usize) -> f32 {
        self.as_dequantize().offset(r, g)
    }
    fn plane_scale(&self, r: usize, g: usize, i: usize) -> Option<f32> {
        self.as_dequantize().plane_scale(r, g, i)
    }
    fn has_plane_scales(&self) -> bool {
        self.as_dequantize().has_plane_scales()
    }
    fn weight(&self, r: usize, c: usize) -> f64 {
        self.as_dequantize().weight(r, c)
    }
}

/// A block of a tensor, for error messages: "Q4_K row 3, block 1".
#[derive(Clone, Copy)]
struct At {
    ty: GgufType,
    row: usize,
    block: usize,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} row {}, block {}", self.ty, self.row, self.block)
    }
}

/// Reads the little-endian binary16 at `b[i..i + 2]` as f32 (exact);
/// non-finite values are an error.
fn read_half(b: &[u8], i: usize, field: &str, at: At) -> Result<f32> {
    let h = f16::from_le_bytes([b[i], b[i + 1]]);
    if !h.is_finite() {
        return Err(Error::Value(format!(
            "{at}: {field} = {} (f16 bits 0x{:04x}) is not finite",
            h,
            h.to_bits()
        )));
    }
    Ok(h.to_f32())
}

/// Imports an `m × k` row-major tensor of type `ty` from its GGUF bytes
/// (rows of `k / ty.block_len()` consecutive blocks), without loss:
///
/// - TQ1_0, TQ2_0 → [`GgufWeights::Ternary`], `PerBlock(256)`, scale `d`,
///   codes `q − 1`;
/// - Q4_0 → [`GgufWeights::Int`], 4 bits, `PerBlock(32)`, scale `d`,
///   offset `−8·d`;
/// - Q4_K → 4 bits, `PerBlock(32)`, scale `d·sc`, offset `−dmin·m`;
/// - Q2_K → 2 bits, `PerBlock(16)`, scale `d·(sc & 15)`, offset
///   `−dmin·(sc >> 4)`.
///
/// Scales and offsets are exact f32 products (see the [module
/// docs](self)), so the dequantized weights are llama.cpp's.
///
/// Errors: [`Error::Shape`] for an empty or too large shape or a `k` that
/// is not a multiple of the block length; [`Error::Length`] if `bytes` is
/// not [`GgufType::tensor_bytes`] long; [`Error::Value`], naming row and
/// block, for a NaN or infinite `d` or `dmin`, a TQ2_0 code 3, or a TQ1_0
/// byte that is not one llama.cpp writes.
pub fn import(ty: GgufType, bytes: &[u8], m: usize, k: usize) -> Result<GgufWeights> {
    let len = ty.tensor_bytes(m, k)?;
    check_len(ty.bytes_what(), len, bytes.len())?;
    let bl = ty.block_len();
    let per_row = k / bl;
    let blocks = bytes
        .chunks_exact(ty.block_bytes())
        .enumerate()
        .map(|(i, b)| {
            (
                At {
                    ty,
                    row: i / per_row,
                    block: i % per_row,
                },
                b,
            )
        });
    match ty {
        GgufType::Tq1_0 | GgufType::Tq2_0 => {
            let mut codes = vec![0i8; m * k];
            let mut scales = Vec::with_capacity(m * per_row);
            for ((at, b), out) in blocks.zip(codes.chunks_exact_mut(bl)) {
                let out: &mut [i8; QK_K] = out.try_into().expect("256 weights");
                scales.push(if ty == GgufType::Tq1_0 {
                    tq1_0_decode(b, out, at)?
                } else {
                    tq2_0_decode(b, out, at)?
                });
            }
            TernaryMatrix::new(m, k, codes, scales, ScaleGranularity::PerBlock(QK_K))
                .map(GgufWeights::Ternary)
        }
        GgufType::Q4_0 | GgufType::Q4K | GgufType::Q2K => {
            let (bits, group) = match ty {
                GgufType::Q2K => (2, 16),
                _ => (4, 32),
            };
            let mut codes = vec![0u8; m * k];
            let groups = m * k / group;
            let mut scales = Vec::with_capacity(groups);
            let mut offsets = Vec::with_capacity(groups);
            for ((at, b), out) in blocks.zip(codes.chunks_exact_mut(bl)) {
                match ty {
                    GgufType::Q4_0 => q4_0_decode(b, out, &mut scales, &mut offsets, at)?,
                    GgufType::Q4K => q4_k_decode(b, out, &mut scales, &mut offsets, at)?,
                    _ => q2_k_decode(b, out, &mut scales, &mut offsets, at)?,
                }
            }
            IntMatrix::new(
                m,
                k,
                bits,
                ScaleGranularity::PerBlock(group),
                codes,
                scales,
                offsets,
            )
            .map(GgufWeights::Int)
        }
    }
}

/// Q4_0: `d`, then byte `i` holds weights `i` (low nibble) and `i + 16`.
fn q4_0_decode(
    b: &[u8],
    out: &mut [u8],
    scales: &mut Vec<f32>,
    offsets: &mut Vec<f32>,
    at: At,
) -> Result<()> {
    let d = read_half(b, 0, "d", at)?;
    for (i, &q) in b[2..18].iter().enumerate() {
        out[i] = q & 15;
        out[i + 16] = q >> 4;
    }
    scales.push(d);
    // A power of two times an f16: exact in f32.
    offsets.push(-8.0 * d);
    Ok(())
}

/// Q4_K's 6-bit scale and min of sub-block `j < 8` (llama.cpp's
/// `get_scale_min_k4`).
fn q4_k_scale_min(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Q4_K: `d`, `dmin`, `scales[12]`, `qs[128]`; byte `i` of `qs` holds
/// weight `64·(i / 32) + i % 32` (low nibble) and that plus 32.
fn q4_k_decode(
    b: &[u8],
    out: &mut [u8],
    scales: &mut Vec<f32>,
    offsets: &mut Vec<f32>,
    at: At,
) -> Result<()> {
    let d = read_half(b, 0, "d", at)?;
    let dmin = read_half(b, 2, "dmin", at)?;
    let sm = &b[4..16];
    for j in 0..8 {
        let (sc, m) = q4_k_scale_min(j, sm);
        // f16 (11 significant bits) × 6-bit integer: exact in f32 (24 bits).
        scales.push(d * sc as f32);
        offsets.push(-(dmin * m as f32));
    }
    for (i, &q) in b[16..144].iter().enumerate() {
        let w = 64 * (i / 32) + i % 32;
        out[w] = q & 15;
        out[w + 32] = q >> 4;
    }
    Ok(())
}

/// Q2_K: `scales[16]`, `qs[64]`, `d`, `dmin`; bits `2s, 2s + 1` of byte
/// `i` of `qs` hold weight `128·(i / 32) + 32·s + i % 32`.
fn q2_k_decode(
    b: &[u8],
    out: &mut [u8],
    scales: &mut Vec<f32>,
    offsets: &mut Vec<f32>,
    at: At,
) -> Result<()> {
    let d = read_half(b, 80, "d", at)?;
    let dmin = read_half(b, 82, "dmin", at)?;
    for &sc in &b[..16] {
        // f16 × 4-bit integer: exact in f32.
        scales.push(d * (sc & 15) as f32);
        offsets.push(-(dmin * (sc >> 4) as f32));
    }
    for (i, &q) in b[16..80].iter().enumerate() {
        let base = 128 * (i / 32) + i % 32;
        for s in 0..4 {
            out[base + 32 * s] = (q >> (2 * s)) & 3;
        }
    }
    Ok(())
}

/// TQ2_0: `qs[64]`, `d`; same bit-pair order as Q2_K, code `q − 1`.
fn tq2_0_decode(b: &[u8], out: &mut [i8; QK_K], at: At) -> Result<f32> {
    let d = read_half(b, 64, "d", at)?;
    for (i, &q) in b[..64].iter().enumerate() {
        let base = 128 * (i / 32) + i % 32;
        for s in 0..4 {
            let v = (q >> (2 * s)) & 3;
            if v == 3 {
                return Err(Error::Value(format!(
                    "{at}: weight {} (qs byte {i}, bits {}..={}) has the 2-bit code 3, \
                     which is not ternary (TQ2_0 codes are 0, 1, 2 for −1, 0, +1)",
                    base + 32 * s,
                    2 * s,
                    2 * s + 1
                )));
            }
            out[base + 32 * s] = v as i8 - 1;
        }
    }
    Ok(d)
}

/// TQ1_0's byte groups: (first byte, bytes, first weight, trits per byte).
/// Byte `first + i` holds weights `weight + i + bytes·n`, `n < trits`.
const TQ1_GROUPS: [(usize, usize, usize, usize); 3] =
    [(0, 32, 0, 5), (32, 16, 160, 5), (48, 4, 240, 4)];

/// Trit `n` of a TQ1_0 byte, as llama.cpp reads it: `((b·3^n mod 256)·3)
/// >> 8`, always 0, 1 or 2.
fn tq1_trit(b: u8, n: usize) -> u8 {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    ((b.wrapping_mul(POW3[n]) as u16 * 3) >> 8) as u8
}

/// The byte llama.cpp writes for trits `t` (digit `t[0]` most significant,
/// missing trailing digits 0): `⌈v·256 / 243⌉`, `v = Σ t_n·3^(4 − n)`.
fn tq1_pack(t: impl Iterator<Item = u8>) -> u8 {
    let v = t
        .take(5)
        .chain(std::iter::repeat(0))
        .take(5)
        .fold(0u16, |v, t| v * 3 + t as u16);
    // llama.cpp writes it as `(v·256 + 242) / 243`.
    (v * 256).div_ceil(243) as u8
}

/// TQ1_0: `qs[48]`, `qh[4]`, `d`; see [`TQ1_GROUPS`].
fn tq1_0_decode(b: &[u8], out: &mut [i8; QK_K], at: At) -> Result<f32> {
    let d = read_half(b, 52, "d", at)?;
    for (first, bytes, weight, trits) in TQ1_GROUPS {
        for i in 0..bytes {
            let byte = b[first + i];
            let canonical = tq1_pack((0..trits).map(|n| tq1_trit(byte, n)));
            if canonical != byte {
                let (field, idx) = if first < 48 {
                    ("qs", first + i)
                } else {
                    ("qh", first + i - 48)
                };
                let digits: Vec<u8> = (0..trits).map(|n| tq1_trit(byte, n)).collect();
                return Err(Error::Value(format!(
                    "{at}: {field} byte {idx} = {byte} is not a TQ1_0 packing llama.cpp writes: \
                     it reads as the trits {digits:?}, which pack to {canonical}; such aliases \
                     have no exact round trip and are rejected"
                )));
            }
            for n in 0..trits {
                out[weight + i + bytes * n] = tq1_trit(byte, n) as i8 - 1;
            }
        }
    }
    Ok(d)
}

/// Writes `w` as GGUF blocks of type `ty` (TQ1_0, TQ2_0 or Q4_0), row after
/// row; the inverse of [`import`] (`export(ty, &import(ty, b, m, k)?) ==
/// b`). Any [`Dequantize`] matrix whose weights the type represents without
/// loss is accepted:
///
/// - **TQ1_0, TQ2_0**: ternary weights (offset 0) with one scale per 256
///   weights of a row: `PerBlock(256)`, `PerBlock(n)` for a multiple `n` of
///   256, `PerRow` or `PerTensor`, or a finer `PerBlock(n)` whose groups
///   inside each block of 256 have bit-identical scales;
/// - **Q4_0**: integer weights (up to 4 bits) with `offset == −8·scale`
///   (codes as is), or ternary weights (offset 0, codes `+ 8`), with one
///   scale per 32 weights in the same sense; per-bit-plane scales are
///   accepted when `α_i = 2^i·α_0` exactly (that is the scale `α_0`).
///
/// In all cases each scale must be exactly representable in binary16 (the
/// f16 `d` is written from it bit for bit, so a `−0.0` scale stays
/// `−0.0`).
///
/// Errors: [`Error::Shape`] if `k` is not a multiple of the block length;
/// [`Error::Value`] saying why for Q4_K and Q2_K (import only) and for any
/// matrix the type cannot hold without loss (wrong format, non-zero or
/// wrong offset, different scales inside a block, a scale that is not an
/// f16, a code out of range), naming row and block.
pub fn export<W: Dequantize + ?Sized>(ty: GgufType, w: &W) -> Result<Vec<u8>> {
    if !ty.exportable() {
        return Err(Error::Value(format!(
            "{ty} is import-only: lutgemm exports TQ1_0, TQ2_0 and Q4_0"
        )));
    }
    let (m, k) = (w.m(), w.k());
    let len = ty.tensor_bytes(m, k)?;
    let format = w.format();
    let ternary = format == Format::Ternary;
    if !ternary && ty != GgufType::Q4_0 {
        return Err(Error::Value(format!(
            "{ty} holds ternary weights (codes −1, 0, +1 times a scale), not {format}"
        )));
    }
    if ternary && w.has_plane_scales() {
        return Err(Error::Value(format!(
            "{ty} cannot hold ternary weights with per-bit-plane scales"
        )));
    }
    let bl = ty.block_len();
    let gl = w.group_len();
    let mut out = Vec::with_capacity(len);
    let mut t = [0u8; QK_K];
    for r in 0..m {
        for j in 0..k / bl {
            let at = At {
                ty,
                row: r,
                block: j,
            };
            let c0 = j * bl;
            let (g0, g1) = (c0 / gl, (c0 + bl - 1) / gl);
            let s = group_scale(w, r, g0, at)?;
            for g in g0..=g1 {
                let sg = group_scale(w, r, g, at)?;
                if sg.to_bits() != s.to_bits() {
                    return Err(Error::Value(format!(
                        "{at}: {ty} stores one scale per {bl} weights, but this block spans \
                         scale groups {g0} and {g} (of {gl} weights) with different scales \
                         ({s:e} and {sg:e})"
                    )));
                }
                let o = w.offset(r, g);
                let ok = if ternary { o == 0.0 } else { o == -8.0 * s };
                if !ok {
                    let want = if ternary {
                        "0 (ternary weights)".to_string()
                    } else {
                        format!("−8·scale = {:e} (Q4_0 is d·(q − 8))", -8.0 * s)
                    };
                    return Err(Error::Value(format!(
                        "{at}: scale group {g} has offset {o:e}; {ty} needs {want}"
                    )));
                }
            }
            let d = f16::from_f32(s);
            if d.to_f32().to_bits() != s.to_bits() {
                return Err(Error::Value(format!(
                    "{at}: scale {s:e} is not exactly representable in f16 (the nearest f16 is \
                     {:e}), and {ty} stores its scale as f16",
                    d.to_f32()
                )));
            }
            // Stored codes: q ∈ 0..3 (t + 1) for the TQ types, 0..16 for Q4_0.
            let shift = match (ty, ternary) {
                (GgufType::Q4_0, true) => 8,
                (GgufType::Q4_0, false) => 0,
                _ => 1,
            };
            let limit = if ty == GgufType::Q4_0 { 16 } else { 3 };
            for (i, q) in t[..bl].iter_mut().enumerate() {
                let v = w.code(r, c0 + i) + shift;
                if !(0..limit).contains(&v) {
                    return Err(Error::Value(format!(
                        "{at}: code {} of weight {i} is out of range for {ty}",
                        v - shift
                    )));
                }
                *q = v as u8;
            }
            match ty {
                GgufType::Tq1_0 => tq1_0_encode(&t, d, &mut out),
                GgufType::Tq2_0 => tq2_0_encode(&t, d, &mut out),
                _ => q4_0_encode(&t[..32], d, &mut out),
            }
        }
    }
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

/// The scale of group `g` of row `r`; with per-bit-plane scales, `α_0` if
/// every `α_i` is exactly `2^i·α_0` (else an error). Non-finite scales are
/// an error.
fn group_scale<W: Dequantize + ?Sized>(w: &W, r: usize, g: usize, at: At) -> Result<f32> {
    let s = if w.has_plane_scales() {
        let a0 = w.plane_scale(r, g, 0).unwrap_or(0.0);
        for i in 1..w.format().bits() as usize {
            let ai = w.plane_scale(r, g, i).unwrap_or(0.0);
            if ai.to_bits() != (a0 * (1u32 << i) as f32).to_bits() {
                return Err(Error::Value(format!(
                    "{at}: scale group {g} has bit-plane scales α_0 = {a0:e}, α_{i} = {ai:e}; \
                     {} needs α_i = 2^i·α_0 (one scale per group)",
                    at.ty
                )));
            }
        }
        a0
    } else {
        w.scale(r, g)
    };
    if !s.is_finite() {
        return Err(Error::Value(format!(
            "{at}: scale group {g} has the non-finite scale {s}"
        )));
    }
    Ok(s)
}

/// Q4_0 block from stored codes `q < 16`.
fn q4_0_encode(q: &[u8], d: f16, out: &mut Vec<u8>) {
    out.extend_from_slice(&d.to_le_bytes());
    out.extend((0..16).map(|i| q[i] | (q[i + 16] << 4)));
}

/// TQ2_0 block from stored codes `q < 3` (`t + 1`).
fn tq2_0_encode(q: &[u8; QK_K], d: f16, out: &mut Vec<u8>) {
    out.extend((0..64).map(|i| {
        let base = 128 * (i / 32) + i % 32;
        (0..4).fold(0u8, |b, s| b | (q[base + 32 * s] << (2 * s)))
    }));
    out.extend_from_slice(&d.to_le_bytes());
}

/// TQ1_0 block from stored codes `q < 3` (`t + 1`), packed as llama.cpp's
/// `quantize_row_tq1_0_ref` packs them.
fn tq1_0_encode(q: &[u8; QK_K], d: f16, out: &mut Vec<u8>) {
    for (_, bytes, weight, trits) in TQ1_GROUPS {
        out.extend((0..bytes).map(|i| tq1_pack((0..trits).map(|n| q[weight + i + bytes * n]))));
    }
    out.extend_from_slice(&d.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn byte(&mut self) -> u8 {
            (self.next() >> 56) as u8
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// A finite f16 of random sign and magnitude (subnormals, zeros and
        /// the largest values included).
        fn half(&mut self) -> f16 {
            loop {
                let h = f16::from_bits(self.next() as u16);
                if h.is_finite() {
                    return h;
                }
            }
        }
    }

    fn put_half(b: &mut [u8], i: usize, h: f16) {
        b[i..i + 2].copy_from_slice(&h.to_le_bytes());
    }

    /// A random block that [`import`] accepts.
    fn valid_block(ty: GgufType, rng: &mut Rng) -> Vec<u8> {
        let mut b: Vec<u8> = (0..ty.block_bytes()).map(|_| rng.byte()).collect();
        match ty {
            GgufType::Q4_0 => put_half(&mut b, 0, rng.half()),
            GgufType::Q4K => {
                put_half(&mut b, 0, rng.half());
                put_half(&mut b, 2, rng.half());
            }
            GgufType::Q2K => {
                put_half(&mut b, 80, rng.half());
                put_half(&mut b, 82, rng.half());
            }
            GgufType::Tq2_0 => {
                for q in &mut b[..64] {
                    *q = (0..4).fold(0, |v, s| v | ((rng.below(3) as u8) << (2 * s)));
                }
                put_half(&mut b, 64, rng.half());
            }
            GgufType::Tq1_0 => {
                let t: Vec<u8> = (0..QK_K).map(|_| rng.below(3) as u8).collect();
                let mut out = Vec::new();
                tq1_0_encode(&t.try_into().unwrap(), rng.half(), &mut out);
                b = out;
            }
        }
        b
    }

    /// llama.cpp's `dequantize_row_*`, transcribed as directly as possible
    /// (f32 arithmetic in the C order), for one block.
    fn llama_dequantize(ty: GgufType, b: &[u8]) -> Vec<f32> {
        let h = |i: usize| f16::from_le_bytes([b[i], b[i + 1]]).to_f32();
        let mut y = Vec::with_capacity(ty.block_len());
        match ty {
            GgufType::Q4_0 => {
                let d = h(0);
                let mut v = [0f32; 32];
                for j in 0..16 {
                    let x0 = (b[2 + j] & 0x0F) as i32 - 8;
                    let x1 = (b[2 + j] >> 4) as i32 - 8;
                    v[j] = x0 as f32 * d;
                    v[j + 16] = x1 as f32 * d;
                }
                y.extend(v);
            }
            GgufType::Q4K => {
                let (d, min) = (h(0), h(2));
                let q = &b[16..];
                let mut is = 0;
                for j in (0..QK_K).step_by(64) {
                    let (sc, m) = q4_k_scale_min(is, &b[4..16]);
                    let (d1, m1) = (d * sc as f32, min * m as f32);
                    let (sc, m) = q4_k_scale_min(is + 1, &b[4..16]);
                    let (d2, m2) = (d * sc as f32, min * m as f32);
                    let qq = &q[j / 2..j / 2 + 32];
                    y.extend(qq.iter().map(|&x| d1 * (x & 0xF) as f32 - m1));
                    y.extend(qq.iter().map(|&x| d2 * (x >> 4) as f32 - m2));
                    is += 2;
                }
            }
            GgufType::Q2K => {
                let (d, min) = (h(80), h(82));
                let mut sc_i = 0;
                for n in (0..QK_K).step_by(128) {
                    let q = &b[16 + n / 4..16 + n / 4 + 32];
                    for shift in (0..8).step_by(2) {
                        for half in 0..2 {
                            let sc = b[sc_i];
                            sc_i += 1;
                            let dl = d * (sc & 0xF) as f32;
                            let ml = min * (sc >> 4) as f32;
                            y.extend(
                                q[16 * half..16 * half + 16]
                                    .iter()
                                    .map(|&x| dl * ((x >> shift) & 3) as i8 as f32 - ml),
                            );
                        }
                    }
                }
            }
            GgufType::Tq2_0 => {
                let d = h(64);
                for j in (0..64).step_by(32) {
                    for l in 0..4 {
                        y.extend(
                            b[j..j + 32]
                                .iter()
                                .map(|&x| (((x >> (2 * l)) & 3) as i8 - 1) as f32 * d),
                        );
                    }
                }
            }
            GgufType::Tq1_0 => {
                let d = h(52);
                let pow3 = [1u8, 3, 9, 27, 81, 243];
                let trit = |x: u8, n: usize| ((x.wrapping_mul(pow3[n]) as u16 * 3) >> 8) as i16;
                for n in 0..5 {
                    y.extend(b[..32].iter().map(|&x| (trit(x, n) - 1) as f32 * d));
                }
                for n in 0..5 {
                    y.extend(b[32..48].iter().map(|&x| (trit(x, n) - 1) as f32 * d));
                }
                for n in 0..4 {
                    y.extend(b[48..52].iter().map(|&x| (trit(x, n) - 1) as f32 * d));
                }
            }
        }
        y
    }

    #[test]
    fn sizes_and_names() {
        let sizes: Vec<(usize, usize)> = GgufType::ALL
            .iter()
            .map(|t| (t.block_len(), t.block_bytes()))
            .collect();
        assert_eq!(
            sizes,
            [(256, 54), (256, 66), (32, 18), (256, 144), (256, 84)]
        );
        for t in GgufType::ALL {
            assert_eq!(GgufType::from_name(&t.name().to_lowercase()), Some(t));
            assert_eq!(GgufType::from_ggml_type(t.ggml_type()), Some(t));
            assert_eq!(t.to_string(), t.name());
        }
        assert_eq!(GgufType::Q4_0.tensor_bytes(3, 64).unwrap(), 3 * 2 * 18);
    }

    /// Every random valid block imports to llama.cpp's weights (bit for bit,
    /// but for the sign of Q4_0's zeros) and exports back to its bytes.
    #[test]
    fn matches_llama_and_round_trips() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for ty in GgufType::ALL {
            for (m, k) in [(1, 256), (3, 512), (2, 1024)] {
                let bytes: Vec<u8> = (0..m * k / ty.block_len())
                    .flat_map(|_| valid_block(ty, &mut rng))
                    .collect();
                let w = import(ty, &bytes, m, k).unwrap();
                assert_eq!((w.m(), w.k()), (m, k));
                let want: Vec<f32> = bytes
                    .chunks_exact(ty.block_bytes())
                    .flat_map(|b| llama_dequantize(ty, b))
                    .collect();
                let got = w.dequantize();
                for (i, (&g, &e)) in got.iter().zip(&want).enumerate() {
                    let same = g.to_bits() == e.to_bits()
                        || (ty == GgufType::Q4_0 && g == 0.0 && e == 0.0);
                    assert!(same, "{ty} {m}×{k} weight {i}: {g:e} vs llama.cpp {e:e}");
                    let wt = w.weight(i / k, i % k) as f32;
                    assert!(wt == e, "{ty} weight() {i}: {wt:e} vs {e:e}");
                }
                if ty.exportable() {
                    assert_eq!(export(ty, &w).unwrap(), bytes, "{ty} round trip");
                    assert_eq!(export(ty, w.as_dequantize()).unwrap(), bytes);
                } else {
                    assert!(matches!(export(ty, &w), Err(Error::Value(_))));
                }
            }
        }
    }

    #[test]
    fn q4_0_hand_block() {
        let mut b = vec![0u8; 18];
        put_half(&mut b, 0, f16::from_f32(0.5));
        for i in 0..16 {
            b[2 + i] = (i as u8) | ((15 - i as u8) << 4);
        }
        let w = import(GgufType::Q4_0, &b, 1, 32).unwrap();
        let t = w.int().unwrap();
        assert_eq!((t.bits(), t.block_len()), (4, 32));
        assert_eq!((t.scales(), t.offsets()), (&[0.5f32][..], &[-4.0f32][..]));
        let d = w.dequantize();
        for i in 0..16 {
            assert_eq!(d[i], (i as f32 - 8.0) * 0.5);
            assert_eq!(d[i + 16], (7.0 - i as f32) * 0.5);
        }
    }

    #[test]
    fn q4_k_scales_and_mins_unpack() {
        // sc_j = 10 + j + 32·(j % 2), m_j = 40 − j + 16·(j % 3 == 0): 6-bit
        // values with high bits set, packed as llama.cpp packs them.
        let sc: Vec<u8> = (0..8).map(|j| 10 + j + 32 * (j % 2)).collect();
        let mn: Vec<u8> = (0..8)
            .map(|j| 40 - j + if j % 3 == 0 { 16 } else { 0 })
            .collect();
        let mut s = [0u8; 12];
        for j in 0..4 {
            s[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
            s[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
            s[j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4);
        }
        let mut b = vec![0u8; 144];
        put_half(&mut b, 0, f16::from_f32(0.25));
        put_half(&mut b, 2, f16::from_f32(-0.125));
        b[4..16].copy_from_slice(&s);
        for (i, q) in b[16..].iter_mut().enumerate() {
            *q = (i % 16) as u8 | (((i * 7) % 16) as u8) << 4;
        }
        let w = import(GgufType::Q4K, &b, 1, 256).unwrap();
        let t = w.int().unwrap();
        for j in 0..8 {
            assert_eq!(t.scale(0, j), 0.25 * sc[j] as f32, "scale {j}");
            assert_eq!(t.offset(0, j), 0.125 * mn[j] as f32, "offset {j}");
        }
        // Byte 33 of qs: weights 64 + 1 (low nibble) and 96 + 1 (high).
        assert_eq!(t.codes()[65], 1);
        assert_eq!(t.codes()[97], ((33 * 7) % 16) as u8);
    }

    #[test]
    fn q2_k_and_tq2_0_order() {
        let mut b = vec![0u8; 84];
        for (j, s) in b[..16].iter_mut().enumerate() {
            *s = (j as u8) | ((15 - j as u8) << 4);
        }
        b[16 + 33] = 0b11_10_01_00; // weights 128 + 1 + 32·s = s
        put_half(&mut b, 80, f16::from_f32(2.0));
        put_half(&mut b, 82, f16::from_f32(1.0));
        let t = import(GgufType::Q2K, &b, 1, 256).unwrap();
        let t = t.int().unwrap();
        assert_eq!((t.bits(), t.block_len()), (2, 16));
        for s in 0..4 {
            assert_eq!(t.codes()[129 + 32 * s], s as u8);
        }
        assert_eq!(t.scale(0, 3), 6.0);
        assert_eq!(t.offset(0, 3), -12.0);

        let mut b = vec![0b01_01_01_01u8; 66];
        b[33] = 0b10_01_00_01; // weights 129, 161, 193, 225: 0, −1, 0, 1
        put_half(&mut b, 64, f16::from_f32(-1.5));
        let t = import(GgufType::Tq2_0, &b, 1, 256).unwrap();
        let t = t.ternary().unwrap();
        assert_eq!(t.granularity(), ScaleGranularity::PerBlock(256));
        assert_eq!(t.scales(), &[-1.5]);
        let c = t.codes();
        assert_eq!([c[129], c[161], c[193], c[225]], [0, -1, 0, 1]);
    }

    /// Every trit tuple packs to a byte that reads back as it; 13 qs and
    /// 175 qh byte values are aliases.
    #[test]
    fn tq1_0_packing() {
        for v in 0..243u16 {
            let t: Vec<u8> = (0..5)
                .rev()
                .map(|n| ((v / 3u16.pow(n)) % 3) as u8)
                .collect();
            let b = tq1_pack(t.iter().copied());
            let back: Vec<u8> = (0..5).map(|n| tq1_trit(b, n)).collect();
            assert_eq!(back, t, "v = {v}, byte {b}");
        }
        let alias = |trits: usize| {
            (0..=255u8)
                .filter(|&b| tq1_pack((0..trits).map(|n| tq1_trit(b, n))) != b)
                .count()
        };
        assert_eq!(alias(5), 256 - 243);
        assert_eq!(alias(4), 256 - 81);
        assert!((0..=255u8).all(|b| (0..5).all(|n| tq1_trit(b, n) <= 2)));
    }

    #[test]
    fn tq1_0_order() {
        let mut t = [1u8; QK_K];
        t[3 + 32 * 4] = 2; // qs byte 3, last trit
        t[160 + 5 + 16 * 2] = 0; // qs byte 37, third trit
        t[240 + 2 + 4 * 3] = 2; // qh byte 2, fourth trit
        let mut b = Vec::new();
        tq1_0_encode(&t, f16::from_f32(1.0), &mut b);
        assert_eq!(b.len(), 54);
        assert_eq!(b[3], tq1_pack([1, 1, 1, 1, 2].into_iter()));
        assert_eq!(b[37], tq1_pack([1, 1, 0, 1, 1].into_iter()));
        assert_eq!(b[50], tq1_pack([1, 1, 1, 2].into_iter()));
        let w = import(GgufType::Tq1_0, &b, 1, 256).unwrap();
        let c = w.ternary().unwrap().codes();
        for (i, &ti) in t.iter().enumerate() {
            assert_eq!(c[i], ti as i8 - 1, "weight {i}");
        }
        assert_eq!(llama_dequantize(GgufType::Tq1_0, &b), w.dequantize());
    }

    #[test]
    fn import_errors() {
        let mut rng = Rng(7);
        for ty in GgufType::ALL {
            let b = valid_block(ty, &mut rng);
            let bl = ty.block_len();
            assert!(
                matches!(import(ty, &b, 1, bl + 16), Err(Error::Shape(_))),
                "{ty}"
            );
            assert!(
                matches!(import(ty, &b, 0, bl), Err(Error::Shape(_))),
                "{ty}"
            );
            assert!(matches!(
                import(ty, &b[1..], 1, bl),
                Err(Error::Length { expected, got, .. }) if expected == b.len() && got == b.len() - 1
            ));
            assert!(matches!(import(ty, &b, 2, bl), Err(Error::Length { .. })));
            // Non-finite d (and dmin), in row 1, block 1 of a 2 × 2-block tensor.
            let fields: &[usize] = match ty {
                GgufType::Q4_0 => &[0],
                GgufType::Q4K => &[0, 2],
                GgufType::Q2K => &[80, 82],
                GgufType::Tq2_0 => &[64],
                GgufType::Tq1_0 => &[52],
            };
            for &f in fields {
                for bad in [f16::NAN, f16::INFINITY, f16::NEG_INFINITY] {
                    let mut t: Vec<u8> = (0..4).flat_map(|_| b.clone()).collect();
                    put_half(&mut t, 3 * b.len() + f, bad);
                    let e = import(ty, &t, 2, 2 * bl).unwrap_err();
                    let msg = e.to_string();
                    assert!(matches!(e, Error::Value(_)), "{ty}: {msg}");
                    assert!(
                        msg.contains("row 1, block 1") && msg.contains("not finite"),
                        "{msg}"
                    );
                }
            }
        }
        // TQ2_0 code 3.
        let mut b = valid_block(GgufType::Tq2_0, &mut rng);
        b[40] |= 0b11 << 4;
        let msg = import(GgufType::Tq2_0, &b, 1, 256).unwrap_err().to_string();
        assert!(
            msg.contains("TQ2_0 row 0, block 0") && msg.contains("weight 200"),
            "{msg}"
        );
        // TQ1_0 aliases, in qs and in qh.
        for (i, v) in [(5usize, 1u8), (49, 1)] {
            let mut b = valid_block(GgufType::Tq1_0, &mut rng);
            b[i] = v;
            let e = import(GgufType::Tq1_0, &b, 1, 256).unwrap_err();
            assert!(matches!(e, Error::Value(_)), "{e}");
            assert!(e.to_string().contains("row 0, block 0"), "{e}");
        }
    }

    #[test]
    fn export_accepts_lossless_layouts() {
        let mut rng = Rng(11);
        let (m, k) = (2, 512);
        let codes: Vec<i8> = (0..m * k).map(|_| rng.below(3) as i8 - 1).collect();
        // Per row and per tensor: one scale for every block of the row.
        for g in [ScaleGranularity::PerRow, ScaleGranularity::PerTensor] {
            let n = g.scale_count(m, k).unwrap();
            let scales: Vec<f32> = (0..n).map(|i| 0.75 - i as f32).collect();
            let t = TernaryMatrix::new(m, k, codes.clone(), scales, g).unwrap();
            for ty in [GgufType::Tq1_0, GgufType::Tq2_0, GgufType::Q4_0] {
                let b = export(ty, &t).unwrap();
                assert_eq!(import(ty, &b, m, k).unwrap().dequantize(), t.dequantize());
            }
        }
        // Finer groups with equal scales per 256.
        let scales: Vec<f32> = (0..m * 8).map(|i| ((i / 4) as f32 + 1.0) * 0.5).collect();
        let t = TernaryMatrix::new(m, k, codes.clone(), scales, ScaleGranularity::PerBlock(64))
            .unwrap();
        let b = export(GgufType::Tq2_0, &t).unwrap();
        assert_eq!(
            import(GgufType::Tq2_0, &b, m, k).unwrap().dequantize(),
            t.dequantize()
        );
        // Int4, groups of 64, offset −8·scale, exported to Q4_0 blocks of 32.
        let q: Vec<u8> = (0..m * k).map(|_| rng.below(16) as u8).collect();
        let s: Vec<f32> = (0..m * 8).map(|i| i as f32 * 0.125 - 1.0).collect();
        let o: Vec<f32> = s.iter().map(|&s| -8.0 * s).collect();
        let t = IntMatrix::new(
            m,
            k,
            4,
            ScaleGranularity::PerBlock(64),
            q,
            s.clone(),
            o.clone(),
        )
        .unwrap();
        let b = export(GgufType::Q4_0, &t).unwrap();
        assert_eq!(
            import(GgufType::Q4_0, &b, m, k).unwrap().dequantize(),
            t.dequantize()
        );
        // The same as plane scales α_i = 2^i·s.
        let ps: Vec<f32> = s
            .iter()
            .flat_map(|&s| (0..4).map(move |i| s * (1 << i) as f32))
            .collect();
        let p = IntMatrix::with_plane_scales(
            m,
            k,
            4,
            ScaleGranularity::PerBlock(64),
            t.codes().to_vec(),
            ps,
            o,
        )
        .unwrap();
        assert_eq!(export(GgufType::Q4_0, &p).unwrap(), b);
    }

    #[test]
    fn export_rejects_lossy() {
        let (m, k) = (1, 256);
        let value = |r: Result<Vec<u8>>, needle: &str| match r {
            Err(Error::Value(msg)) => assert!(msg.contains(needle), "{msg} lacks {needle:?}"),
            other => panic!("expected a Value error with {needle:?}, got {other:?}"),
        };
        let codes = vec![1i8; k];
        // Different scales inside one 256-block.
        let t = TernaryMatrix::new(
            m,
            k,
            codes.clone(),
            vec![1.0, 2.0],
            ScaleGranularity::PerBlock(128),
        )
        .unwrap();
        value(export(GgufType::Tq2_0, &t), "different scales");
        // A scale that is no f16.
        let t =
            TernaryMatrix::new(m, k, codes.clone(), vec![0.1], ScaleGranularity::PerRow).unwrap();
        value(
            export(GgufType::Tq1_0, &t),
            "not exactly representable in f16",
        );
        value(
            export(GgufType::Q4_0, &t),
            "not exactly representable in f16",
        );
        // Q4_K / Q2_K are import-only.
        let t = TernaryMatrix::new(m, k, codes, vec![1.0], ScaleGranularity::PerRow).unwrap();
        value(export(GgufType::Q4K, &t), "import-only");
        value(export(GgufType::Q2K, &t), "import-only");
        // Integers to a ternary type; wrong Q4_0 offset; block length.
        let t = IntMatrix::new(
            m,
            k,
            4,
            ScaleGranularity::PerBlock(32),
            vec![3; k],
            vec![1.0; 8],
            vec![-8.0; 8],
        )
        .unwrap();
        value(export(GgufType::Tq2_0, &t), "holds ternary weights");
        assert!(export(GgufType::Q4_0, &t).is_ok());
        let t = IntMatrix::new(
            m,
            k,
            4,
            ScaleGranularity::PerBlock(32),
            vec![3; k],
            vec![1.0; 8],
            vec![-7.0; 8],
        )
        .unwrap();
        value(export(GgufType::Q4_0, &t), "offset");
        let t =
            TernaryMatrix::new(1, 96, vec![0; 96], vec![1.0], ScaleGranularity::PerRow).unwrap();
        assert!(matches!(export(GgufType::Tq2_0, &t), Err(Error::Shape(_))));
        assert!(export(GgufType::Q4_0, &t).is_ok());
    }
}
