//! Activation preparation: padding, group sums and lookup tables.
//!
//! A token's activations are first laid out like a packed row: each scale
//! group of `bl` values padded with zeros to `bp` (`qpad`: int8 for the
//! Exact contract; `xpad`: f32 for Fast and Float). From that each table
//! family builds its tables (one module each, with the byte layout of every
//! contract):
//!
//! - [`ternary_g2`]: 9-entry tables of 2 ternary weights;
//! - [`ternary_g4`]: 81-entry tables of 4 ternary weights;
//! - [`bit_g4`]: 16-entry tables of 4 activations for one bit plane.
//!
//! Exact tables hold exact int16 entries split into a low-byte and a
//! high-byte half (byte shuffles return bytes; a sum of 2–4 int8 values
//! needs 9–10 bits); the kernels recombine them with `vpunpck{l,h}bw`.
//! Fast tables hold int8 entries and one f32 scale per span of activations;
//! Float tables hold f32 entries.

pub mod bit_g4;
pub mod ternary_g2;
pub mod ternary_g4;

use crate::activation::round_to_i8;
use crate::kernels::abi::TableArgs;
use crate::layout::Geometry;

/// Scatters a token (`q`, k values) into the padded group layout (`qpad`,
/// `kp` values, padding zero).
pub(crate) fn pad_token<T: Copy + Default>(q: &[T], geo: &Geometry, qpad: &mut [T]) {
    debug_assert_eq!(q.len(), geo.k);
    debug_assert_eq!(qpad.len(), geo.kp);
    if geo.bl == geo.bp {
        qpad.copy_from_slice(q);
        return;
    }
    for (src, dst) in q.chunks_exact(geo.bl).zip(qpad.chunks_exact_mut(geo.bp)) {
        dst[..geo.bl].copy_from_slice(src);
        dst[geo.bl..].fill(T::default());
    }
}

/// `sums[b] = Σ qpad[b·bp .. (b+1)·bp]`.
pub(crate) fn block_sums(qpad: &[i8], bp: usize, sums: &mut [i32]) {
    for (s, block) in sums.iter_mut().zip(qpad.chunks_exact(bp)) {
        *s = block.iter().map(|&v| v as i32).sum();
    }
}

/// `sums[b] = Σ xpad[b·bp .. (b+1)·bp]`, in f64 (exact for any k here).
pub(crate) fn block_sums_f64(xpad: &[f32], bp: usize, sums: &mut [f64]) {
    for (s, block) in sums.iter_mut().zip(xpad.chunks_exact(bp)) {
        *s = block.iter().map(|&v| v as f64).sum();
    }
}

/// The int16 value of a table entry from its two bytes.
#[inline(always)]
pub(crate) fn entry(lo: u8, hi: u8) -> i16 {
    i16::from_le_bytes([lo, hi])
}

/// Writes exact int16 entries as `lo` and `hi` byte halves.
#[inline]
fn split_bytes(entries: &[i16], lo: &mut [u8], hi: &mut [u8]) {
    for ((&v, l), h) in entries.iter().zip(lo.iter_mut()).zip(hi.iter_mut()) {
        *l = v as u8;
        *h = (v >> 8) as u8;
    }
}

/// Re-quantizes f32 table entries to int8, one scale per span of
/// activations (Fast contract): `amax` over the span's entries,
/// `t8 = round(t · (127 / amax))` (ties away from zero, like the
/// activations), scale `amax / 127`; a span whose `127 / amax` overflows
/// gets zeros and scale 0. `entries` holds `spans × per_span` values.
pub(crate) fn requantize_spans(
    entries: &[f32],
    per_span: usize,
    t8: &mut [i8],
    scales: &mut [f32],
) {
    for ((e, q), s) in entries
        .chunks_exact(per_span)
        .zip(t8.chunks_exact_mut(per_span))
        .zip(scales.iter_mut())
    {
        let amax = e.iter().fold(0f32, |a, v| a.max(v.abs()));
        let inv = 127.0f32 / amax;
        if !inv.is_finite() {
            q.fill(0);
            *s = 0.0;
            continue;
        }
        for (q, &v) in q.iter_mut().zip(e) {
            *q = round_to_i8(v * inv);
        }
        *s = amax / 127.0;
    }
}

/// Views of a table build's arguments. Safety: `a` was built by
/// [`crate::kernels::run_table_builder`] for a table of `table_len` bytes.
pub(crate) struct TableViews<'a> {
    pub qpad: &'a [i8],
    pub xpad: &'a [f32],
    pub tables: &'a mut [u8],
    pub tscale: &'a mut [f32],
    pub span: usize,
}

/// # Safety
/// As [`TableViews`]; `quantized` says which input the contract reads.
pub(crate) unsafe fn table_views<'a>(
    a: *const TableArgs,
    table_len: usize,
    quantized: bool,
    fast: bool,
) -> TableViews<'a> {
    // SAFETY: the caller checked every extent (run_table_builder).
    unsafe {
        let a = &*a;
        TableViews {
            qpad: if quantized {
                std::slice::from_raw_parts(a.qpad, a.kp)
            } else {
                &[]
            },
            xpad: if quantized {
                &[]
            } else {
                std::slice::from_raw_parts(a.xpad, a.kp)
            },
            tables: std::slice::from_raw_parts_mut(a.tables, table_len),
            tscale: if fast {
                std::slice::from_raw_parts_mut(a.tscale, a.kp / a.span)
            } else {
                &mut []
            },
            span: a.span,
        }
    }
}

/// Defines the three `extern "C"` portable builders of a table family from
/// its slice builders `build_exact(qpad, tables)`, `build_float(xpad, &mut
/// [f32])` and `$fast_f32` (the f32 entries the Fast tables re-quantize by
/// [`requantize_spans`]).
macro_rules! portable_builders {
    (group: $g:expr, entries: $e:expr, fast_f32: $fast_f32:path) => {
        /// Table bytes per group of activations, by contract.
        pub fn group_bytes(contract: Contract) -> usize {
            match contract {
                Contract::Exact => 2 * $e,
                Contract::Fast => $e,
                Contract::Float => 4 * $e,
            }
        }

        /// The portable builder of `contract`.
        pub(crate) fn builder(contract: Contract) -> TableFn {
            match contract {
                Contract::Exact => exact_c,
                Contract::Fast => fast_c,
                Contract::Float => float_c,
            }
        }

        /// Fast tables: the Float entries re-quantized per span.
        pub fn build_fast(xpad: &[f32], span: usize, tables: &mut [u8], tscale: &mut [f32]) {
            let groups = xpad.len() / $g;
            // One span at a time, so the f32 entries stay in a stack buffer
            // (no allocation in a call).
            let mut buf = [0f32; $crate::layout::FAST_SPAN / $g * $e];
            let per_span = span / $g * $e;
            let f = &mut buf[..per_span];
            let t8: &mut [i8] = bytemuck::cast_slice_mut(&mut tables[..groups * $e]);
            for ((x, q), s) in xpad
                .chunks_exact(span)
                .zip(t8.chunks_exact_mut(per_span))
                .zip(tscale.iter_mut())
            {
                $fast_f32(x, f);
                $crate::lut::requantize_spans(f, per_span, q, std::slice::from_mut(s));
            }
        }

        unsafe extern "C" fn exact_c(a: *const TableArgs) {
            // SAFETY: forwarded contract of TableFn.
            let v = unsafe {
                let kp = (*a).kp;
                $crate::lut::table_views(a, kp / $g * group_bytes(Contract::Exact), true, false)
            };
            build_exact(v.qpad, v.tables);
        }

        unsafe extern "C" fn fast_c(a: *const TableArgs) {
            // SAFETY: forwarded contract of TableFn.
            let v = unsafe {
                let kp = (*a).kp;
                $crate::lut::table_views(a, kp / $g * group_bytes(Contract::Fast), false, true)
            };
            build_fast(v.xpad, v.span, v.tables, v.tscale);
        }

        unsafe extern "C" fn float_c(a: *const TableArgs) {
            // SAFETY: forwarded contract of TableFn.
            let v = unsafe {
                let kp = (*a).kp;
                $crate::lut::table_views(a, kp / $g * group_bytes(Contract::Float), false, false)
            };
            let f: &mut [f32] = bytemuck::cast_slice_mut(v.tables);
            build_float(v.xpad, f);
        }
    };
}
pub(crate) use portable_builders;
