//! 64-byte-aligned, zero-initialised buffers for packed weights, tables and
//! workspaces (one cache line; the widest vector load is 64 bytes).

/// One cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line([u8; 64]);

// SAFETY: `Line` is 64 plain bytes with no padding; any bit pattern is valid.
unsafe impl bytemuck::Zeroable for Line {}
// SAFETY: as above; `Copy + 'static`, `repr(C)`.
unsafe impl bytemuck::Pod for Line {}

/// A growable 64-byte-aligned byte buffer.
#[derive(Clone, Default)]
pub(crate) struct AlignedBuf {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes.
    pub fn zeroed(len: usize) -> Self {
        let mut b = AlignedBuf::default();
        b.resize(len);
        b
    }

    /// Makes the buffer at least `len` bytes, reusing the allocation when it
    /// is large enough (so steady-state calls do not allocate). Contents are
    /// unspecified after a resize; callers overwrite what they read.
    pub fn resize(&mut self, len: usize) {
        let lines = len.div_ceil(64);
        if self.lines.len() < lines {
            self.lines.resize(lines, Line([0; 64]));
        }
        self.len = len;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.lines)[..self.len]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.lines)[..self.len]
    }
}
