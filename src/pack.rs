//! Ternary weights → kernel layouts.
//!
//! Every layout stores 2 bits per weight and groups rows in *row groups* of
//! `mr` rows (m is padded with zero rows to a multiple of `mr`). Along k,
//! each scale block of `bl` weights is padded with zero weights to `bp`, a
//! multiple of the layout's `kc`, so a kernel never straddles a scale
//! boundary and never needs a tail loop; the activations are padded the same
//! way (`lut.rs`). One row group is `mr · kp / 4` contiguous bytes, where
//! `kp = nb · bp`, and row groups follow each other.

use crate::format::TernaryMatrix;

/// A packed weight layout, named by the kernel family that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Multiply-add (bitnet.cpp I2_S style). Within a row group, chunk by
    /// chunk of `kc` weights, row by row: `kc / 4` bytes where byte `j` holds
    /// `code + 1 ∈ {0, 1, 2}` of the chunk's weights `j + s · kc/4` in bits
    /// `2s..2s+2`, s = 0..4. A shift and a mask give 4 vectors of
    /// consecutive weights, ready for `vpmaddubsw`/`vpdpbusd`.
    Mad {
        /// Rows per row group.
        mr: usize,
        /// Padding granularity of a scale block along k.
        kc: usize,
    },
    /// Table lookup with groups of g = 2 weights (bitnet.cpp TL1 style):
    /// index `3·(c₀+1) + (c₁+1) ∈ [0, 9)`. Within a row group, for each
    /// 4 weights `p` (two groups), `mr` bytes, one per row: the low nibble
    /// indexes group `2p`, the high nibble group `2p + 1`. 16-entry tables
    /// suit `vpshufb`.
    Lut2 {
        /// Rows per row group.
        mr: usize,
        /// Padding granularity of a scale block along k.
        kc: usize,
    },
    /// Table lookup with groups of g = 4 weights: index
    /// `27·(c₀+1) + 9·(c₁+1) + 3·(c₂+1) + (c₃+1) ∈ [0, 81)`. Within a row
    /// group, for each group `j`, `mr` bytes, one per row. 128-entry tables
    /// suit AVX-512 VBMI `vpermi2b`.
    Lut4 {
        /// Rows per row group.
        mr: usize,
        /// Padding granularity of a scale block along k.
        kc: usize,
    },
}

impl Layout {
    /// Rows per row group.
    pub fn mr(self) -> usize {
        match self {
            Layout::Mad { mr, .. } | Layout::Lut2 { mr, .. } | Layout::Lut4 { mr, .. } => mr,
        }
    }

    /// Padding granularity of a scale block along k.
    pub fn kc(self) -> usize {
        match self {
            Layout::Mad { kc, .. } | Layout::Lut2 { kc, .. } | Layout::Lut4 { kc, .. } => kc,
        }
    }
}

/// Sizes derived from (m, k, block length, layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Rows of `W`.
    pub m: usize,
    /// Columns of `W`.
    pub k: usize,
    /// Rows per row group.
    pub mr: usize,
    /// Row groups (m padded up to a multiple of `mr`, divided by `mr`).
    pub row_groups: usize,
    /// Scale block length along k.
    pub bl: usize,
    /// Scale blocks per row.
    pub nb: usize,
    /// Padded block length (multiple of the layout's `kc`).
    pub bp: usize,
    /// Padded row length, `nb · bp`.
    pub kp: usize,
}

impl Geometry {
    /// Geometry of an `m × k` matrix with scale blocks of `bl`, packed in `layout`.
    pub fn new(m: usize, k: usize, bl: usize, layout: Layout) -> Geometry {
        let mr = layout.mr();
        let bp = bl.div_ceil(layout.kc()) * layout.kc();
        let nb = k / bl;
        Geometry {
            m,
            k,
            mr,
            row_groups: m.div_ceil(mr),
            bl,
            nb,
            bp,
            kp: nb * bp,
        }
    }

    /// Bytes of one packed row group.
    pub fn row_group_bytes(&self) -> usize {
        self.mr * self.kp / 4
    }

    /// Bytes of the whole packed matrix.
    pub fn packed_bytes(&self) -> usize {
        self.row_groups * self.row_group_bytes()
    }

    /// Column of `W` at padded position `p`, or `None` for padding.
    #[inline]
    pub fn column(&self, p: usize) -> Option<usize> {
        let (b, off) = (p / self.bp, p % self.bp);
        (off < self.bl).then_some(b * self.bl + off)
    }
}

/// Packs `w` into `layout`; `out` must be `geometry.packed_bytes()` long.
pub(crate) fn pack_ternary(w: &TernaryMatrix, layout: Layout, geo: &Geometry, out: &mut [u8]) {
    assert_eq!(out.len(), geo.packed_bytes());
    let codes = w.codes();
    let k = geo.k;
    // Code at (row, padded position); padding rows and columns are 0.
    let code = |r: usize, p: usize| -> i8 {
        match geo.column(p) {
            Some(c) if r < geo.m => codes[r * k + c],
            _ => 0,
        }
    };
    let mr = geo.mr;
    for (g, group) in out.chunks_exact_mut(geo.row_group_bytes()).enumerate() {
        let row0 = g * mr;
        match layout {
            Layout::Mad { kc, .. } => pack_mad_group(group, row0, mr, kc, geo.kp, code),
            Layout::Lut2 { .. } => {
                for (p, bytes) in group.chunks_exact_mut(mr).enumerate() {
                    for (i, byte) in bytes.iter_mut().enumerate() {
                        let c = |o: usize| (code(row0 + i, 4 * p + o) + 1) as u8;
                        let lo = 3 * c(0) + c(1);
                        let hi = 3 * c(2) + c(3);
                        *byte = lo | (hi << 4);
                    }
                }
            }
            Layout::Lut4 { .. } => {
                for (j, bytes) in group.chunks_exact_mut(mr).enumerate() {
                    for (i, byte) in bytes.iter_mut().enumerate() {
                        let c = |o: usize| (code(row0 + i, 4 * j + o) + 1) as u8;
                        *byte = 27 * c(0) + 9 * c(1) + 3 * c(2) + c(3);
                    }
                }
            }
        }
    }
}

fn pack_mad_group(
    group: &mut [u8],
    row0: usize,
    mr: usize,
    kc: usize,
    kp: usize,
    code: impl Fn(usize, usize) -> i8,
) {
    let q = kc / 4;
    let mut bytes = group.chunks_exact_mut(q);
    for ch in 0..kp / kc {
        for i in 0..mr {
            let row = bytes.next().expect("group sized by geometry");
            for (j, byte) in row.iter_mut().enumerate() {
                let mut v = 0u8;
                for s in 0..4 {
                    v |= ((code(row0 + i, ch * kc + j + s * q) + 1) as u8) << (2 * s);
                }
                *byte = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ScaleGranularity;

    #[test]
    fn geometry_pads_blocks_and_rows() {
        let g = Geometry::new(10, 300, 100, Layout::Mad { mr: 8, kc: 128 });
        assert_eq!((g.row_groups, g.nb, g.bp, g.kp), (2, 3, 128, 384));
        assert_eq!(g.column(0), Some(0));
        assert_eq!(g.column(99), Some(99));
        assert_eq!(g.column(100), None);
        assert_eq!(g.column(128), Some(100));
        assert_eq!(g.packed_bytes(), 2 * 8 * 384 / 4);
    }

    #[test]
    fn mad_layout_bits() {
        // One row of 128 weights: weight c has code (c % 3) - 1.
        let codes: Vec<i8> = (0..128).map(|c| (c % 3) as i8 - 1).collect();
        let w = TernaryMatrix::new(1, 128, codes, vec![1.0], ScaleGranularity::PerTensor).unwrap();
        let layout = Layout::Mad { mr: 1, kc: 128 };
        let geo = Geometry::new(1, 128, 128, layout);
        let mut out = vec![0u8; geo.packed_bytes()];
        pack_ternary(&w, layout, &geo, &mut out);
        for (j, byte) in out.iter().enumerate() {
            for s in 0..4 {
                let c = j + 32 * s;
                assert_eq!((byte >> (2 * s)) & 3, (c % 3) as u8, "weight {c}");
            }
        }
    }
}
