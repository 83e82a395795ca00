//! The one kernel ABI, mirrored from `kernels/lutgemm_kernels.h`: the
//! `#[repr(C)]` argument structs every kernel (C or portable Rust) takes,
//! and the function types. The field order is the header's; a test below
//! pins the offsets.

/// One kernel call: a range of row groups × a tile of tokens, with strides.
/// See `kernels/lutgemm_kernels.h` for every field's meaning and the output
/// indexing. Built only by [`super::run_kernel`], which checks every extent.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct KernelArgs {
    pub w: *const u8,
    pub w_stride: usize,
    pub row_groups: usize,
    pub mr: usize,
    pub kc: usize,
    pub nb: usize,
    pub bp: usize,
    pub bits: usize,
    pub plane_out: usize,
    pub span: usize,
    pub n: usize,
    pub qpad: *const i8,
    pub qpad_stride: usize,
    pub qsum: *const i32,
    pub qsum_stride: usize,
    pub tables: *const u8,
    pub tables_stride: usize,
    pub tscale: *const f32,
    pub tscale_stride: usize,
    pub out: *mut u8,
    pub out_stride: usize,
    pub fuse: usize,
    pub gscale: *const u8,
    pub gscale_stride: usize,
    pub scratch: *mut u8,
    pub scratch_bytes: usize,
    pub xpad: *const f32,
    pub xpad_stride: usize,
}

/// `KernelArgs::fuse` flags (`LUTGEMM_FUSE*` in the header): fused group
/// scaling, its scales stored as f16, offsets present, and offsets folded
/// into the integer sums as the zero point `z = 2^(bits−1)` (symmetric
/// weights: every offset is `−z · s`, none stored).
pub(crate) const FUSE: usize = 1;
pub(crate) const FUSE_F16: usize = 2;
pub(crate) const FUSE_OFFSETS: usize = 4;
pub(crate) const FUSE_ZERO_POINT: usize = 8;

/// One token's table build (`lutgemm_table_args`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableArgs {
    pub qpad: *const i8,
    pub xpad: *const f32,
    pub kp: usize,
    pub span: usize,
    pub tables: *mut u8,
    pub tscale: *mut f32,
}

/// A kernel entry point. Safety: every pointer in the arguments is valid
/// for the extents they imply (checked by [`super::run_kernel`]) and the
/// kernel's ISA is available.
pub(crate) type KernelFn = unsafe extern "C" fn(*const KernelArgs);

/// A table builder entry point; safety as [`KernelFn`].
pub(crate) type TableFn = unsafe extern "C" fn(*const TableArgs);

/// Declares C kernels and table builders with the one ABI.
///
/// `c_functions! { lutgemm_avx2_ternary_mad, ...; tables: lutgemm_avx2_ternary_lut_g2_tables }`
#[allow(unused_macros)]
macro_rules! c_functions {
    (kernels: $($k:ident),* ; tables: $($t:ident),* $(,)?) => {
        unsafe extern "C" {
            $(fn $k(a: *const $crate::kernels::abi::KernelArgs);)*
            $(fn $t(a: *const $crate::kernels::abi::TableArgs);)*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn field_offsets_match_the_c_header() {
        // The header's struct is all pointers and size_t: each field is one
        // word, in declaration order.
        let w = size_of::<usize>();
        assert_eq!(offset_of!(KernelArgs, w), 0);
        assert_eq!(offset_of!(KernelArgs, span), 9 * w);
        assert_eq!(offset_of!(KernelArgs, qpad), 11 * w);
        assert_eq!(offset_of!(KernelArgs, tscale), 17 * w);
        assert_eq!(offset_of!(KernelArgs, out_stride), 20 * w);
        assert_eq!(offset_of!(KernelArgs, fuse), 21 * w);
        assert_eq!(offset_of!(KernelArgs, gscale), 22 * w);
        assert_eq!(offset_of!(KernelArgs, gscale_stride), 23 * w);
        assert_eq!(offset_of!(KernelArgs, scratch), 24 * w);
        assert_eq!(offset_of!(KernelArgs, scratch_bytes), 25 * w);
        assert_eq!(offset_of!(KernelArgs, xpad_stride), 27 * w);
        assert_eq!(size_of::<KernelArgs>(), 28 * w);
        assert_eq!(offset_of!(TableArgs, span), 3 * w);
        assert_eq!(size_of::<TableArgs>(), 6 * w);
    }
}
