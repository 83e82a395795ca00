//! The C ABI (`include/lutgemm.h`): a thin front door onto the same exec
//! layer as [`crate::Context`], for C/C++ engines that own their threads.
//!
//! Every function checks its pointers and sizes and returns a
//! `lutgemm_status`; none lets a panic cross the boundary (each body runs
//! under `catch_unwind` and a panic becomes `LUTGEMM_ERR_INTERNAL`). The
//! message of the last error on the calling thread is kept for
//! `lutgemm_last_error()`.
//!
//! Host-threaded protocol (ggml style): `lutgemm_work_size(w, n, nth)`
//! bytes of 64-byte-aligned `wdata`; every thread `ith < nth` calls
//! `lutgemm_prepare` (its share of the tokens), the host puts a barrier,
//! then every thread calls `lutgemm_compute` (its share of the work items).
//! The plan is a pure function of (weights, n, nth), so all calls agree,
//! and results are bit-identical for every `nth`.

#![allow(clippy::missing_safety_doc)]

use crate::activation::ActivationElem;
use crate::context::Context;
use crate::contract::Contract;
use crate::error::Error;
use crate::exec::{self, FloatSlice, Input, Sink, Workspace};
use crate::format::{IntMatrix, IntQuantizer, ScaleGranularity, TernaryMatrix};
use crate::isa::Isa;
use crate::kernels::KernelFamily;
use crate::packed::{PackOptions, PackedWeights};
use crate::plan::{Output, Plan};
use half::{bf16, f16};
use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// `lutgemm_status`.
pub type Status = c_int;
const OK: Status = 0;
const ERR_NULL: Status = 1;
const ERR_ARGUMENT: Status = 2;
const ERR_SHAPE: Status = 3;
const ERR_LENGTH: Status = 4;
const ERR_VALUE: Status = 5;
const ERR_NON_FINITE: Status = 6;
const ERR_UNAVAILABLE: Status = 7;
const ERR_WORKSPACE: Status = 8;
const ERR_INTERNAL: Status = 9;

/// `lutgemm_type`: element type of float arrays.
const TYPE_F32: c_int = 0;
const TYPE_F16: c_int = 1;
const TYPE_BF16: c_int = 2;

/// The opaque `lutgemm_weights`.
pub struct CWeights {
    packed: PackedWeights,
    describe: CString,
}

/// `lutgemm_pack_options` (see the header).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CPackOptions {
    /// `lutgemm_contract`: 0 exact, 1 fast, 2 float.
    pub contract: c_int,
    /// `lutgemm_isa`: 0 auto, 1 scalar, 2 avx2, 3 avx512.
    pub isa: c_int,
    /// `lutgemm_family`: 0 auto, 1 mad, 2 lut_g2, 3 lut_g4, 4 bitlut_g4.
    pub family: c_int,
    /// Typical tokens per call (0 or 1: decode).
    pub tokens: i64,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// Contexts for `lutgemm_matmul`, one per thread count, so repeated
    /// calls reuse their pools and workspaces.
    static CONTEXTS: RefCell<Vec<(usize, Context)>> = const { RefCell::new(Vec::new()) };
}

/// A failure at the boundary: a status and its message.
struct Fail(Status, String);

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let status = match e {
            Error::Shape(_) => ERR_SHAPE,
            Error::Length { .. } => ERR_LENGTH,
            Error::Value(_) => ERR_VALUE,
            Error::NonFinite { .. } => ERR_NON_FINITE,
            Error::Unavailable(_) => ERR_UNAVAILABLE,
        };
        Fail(status, e.to_string())
    }
}

fn fail<T>(status: Status, msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail(status, msg.into()))
}

fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs `f` with the panic boundary and status mapping.
fn guard(f: impl FnOnce() -> Result<(), Fail>) -> Status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => OK,
        Ok(Err(Fail(status, msg))) => {
            set_last_error(&msg);
            status
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (a bug in lutgemm): {what}"));
            ERR_INTERNAL
        }
    }
}

fn non_null<T>(p: *const T, what: &str) -> Result<(), Fail> {
    if p.is_null() {
        fail(ERR_NULL, format!("{what} is NULL"))
    } else {
        Ok(())
    }
}

fn dim(v: i64, what: &str) -> Result<usize, Fail> {
    if v <= 0 {
        return fail(ERR_SHAPE, format!("{what} must be positive, got {v}"));
    }
    usize::try_from(v).or_else(|_| fail(ERR_SHAPE, format!("{what} = {v} is too large")))
}

/// `count` elements of `size` bytes, or an error if that overflows.
fn elems(count: [usize; 2], what: &str) -> Result<usize, Fail> {
    count[0]
        .checked_mul(count[1])
        .filter(|&v| v <= isize::MAX as usize / 8)
        .ok_or_else(|| {
            Fail(
                ERR_SHAPE,
                format!("{what}: {} × {} overflows", count[0], count[1]),
            )
        })
}

fn options(opts: *const CPackOptions) -> Result<PackOptions, Fail> {
    let mut o = PackOptions::default();
    if opts.is_null() {
        return Ok(o);
    }
    // SAFETY: non-null, and the caller passes a valid options struct.
    let c = unsafe { *opts };
    o.contract = match c.contract {
        0 => Contract::Exact,
        1 => Contract::Fast,
        2 => Contract::Float,
        v => return fail(ERR_ARGUMENT, format!("unknown contract {v}")),
    };
    o.isa = match c.isa {
        0 => None,
        1 => Some(Isa::Scalar),
        2 => Some(Isa::Avx2),
        3 => Some(Isa::Avx512),
        v => return fail(ERR_ARGUMENT, format!("unknown ISA {v}")),
    };
    o.family = match c.family {
        0 => None,
        1 => Some(KernelFamily::MultiplyAdd),
        2 => Some(KernelFamily::LutG2),
        3 => Some(KernelFamily::LutG4),
        4 => Some(KernelFamily::BitLutG4),
        5 => Some(KernelFamily::VecLutG4),
        6 => Some(KernelFamily::MultiplyAdd5),
        7 => Some(KernelFamily::IntVecLut),
        v => return fail(ERR_ARGUMENT, format!("unknown kernel family {v}")),
    };
    o.tokens = c.tokens.clamp(1, i64::MAX) as usize;
    Ok(o)
}

/// `group`: 0 one scale per tensor, −1 per row, else the group length.
fn granularity(group: i64) -> Result<ScaleGranularity, Fail> {
    match group {
        0 => Ok(ScaleGranularity::PerTensor),
        -1 => Ok(ScaleGranularity::PerRow),
        g if g > 0 => Ok(ScaleGranularity::PerBlock(g as usize)),
        g => fail(
            ERR_ARGUMENT,
            format!("group {g}: use 0 (tensor), -1 (row) or a length"),
        ),
    }
}

fn finish(packed: PackedWeights, out: *mut *mut CWeights) -> Result<(), Fail> {
    let describe = CString::new(packed.describe()).unwrap_or_default();
    let b = Box::new(CWeights { packed, describe });
    // SAFETY: `out` was checked non-null by the caller of `finish`.
    unsafe { *out = Box::into_raw(b) };
    Ok(())
}

/// Float weights (m × k of `ty`) converted to f32, with their checked
/// dimensions.
///
/// # Safety
/// `w` is NULL or points to m × k elements of `ty`.
unsafe fn float_weights(
    w: *const c_void,
    ty: c_int,
    m: i64,
    k: i64,
) -> Result<(Vec<f32>, usize, usize), Fail> {
    non_null(w, "w")?;
    let (m, k) = (dim(m, "m")?, dim(k, "k")?);
    let len = elems([m, k], "m × k")?;
    // SAFETY: forwarded.
    let x = unsafe { Activations::new(w, ty, len)? };
    let mut f = vec![0f32; len];
    match &x {
        Activations::F32(v) => f32::to_f32_slice(v.0, &mut f),
        Activations::F16(v) => f16::to_f32_slice(v.0, &mut f),
        Activations::Bf16(v) => bf16::to_f32_slice(v.0, &mut f),
    }
    Ok((f, m, k))
}

/// The `bits` argument as the formats take it.
fn bits_arg(bits: c_int) -> Result<u32, Fail> {
    u32::try_from(bits).or_else(|_| fail(ERR_VALUE, format!("bits {bits}")))
}

/// Float activations of a C element type, viewed without copying.
enum Activations<'a> {
    F32(FloatSlice<'a, f32>),
    F16(FloatSlice<'a, f16>),
    Bf16(FloatSlice<'a, bf16>),
}

impl<'a> Activations<'a> {
    /// # Safety
    /// `x` points to `len` elements of `ty`, alive for `'a`.
    unsafe fn new(x: *const c_void, ty: c_int, len: usize) -> Result<Activations<'a>, Fail> {
        // SAFETY: forwarded.
        unsafe {
            Ok(match ty {
                TYPE_F32 => Activations::F32(FloatSlice(std::slice::from_raw_parts(x.cast(), len))),
                TYPE_F16 => Activations::F16(FloatSlice(std::slice::from_raw_parts(x.cast(), len))),
                TYPE_BF16 => {
                    Activations::Bf16(FloatSlice(std::slice::from_raw_parts(x.cast(), len)))
                }
                t => return fail(ERR_ARGUMENT, format!("unknown element type {t}")),
            })
        }
    }

    fn input(&self) -> Input<'_> {
        Input::Float(match self {
            Activations::F32(x) => x,
            Activations::F16(x) => x,
            Activations::Bf16(x) => x,
        })
    }
}

/// Ternary weights from C arrays (m × k codes, `nscales` scales).
///
/// # Safety
/// The pointers hold what the header says.
unsafe fn ternary_from_raw(
    codes: *const i8,
    scales: *const f32,
    nscales: usize,
    m: i64,
    k: i64,
    group: i64,
) -> Result<TernaryMatrix, Fail> {
    non_null(codes, "codes")?;
    non_null(scales, "scales")?;
    let (m, k) = (dim(m, "m")?, dim(k, "k")?);
    let len = elems([m, k], "m × k")?;
    // SAFETY: the caller passes m × k codes and `nscales` scales.
    let (c, s) = unsafe {
        (
            std::slice::from_raw_parts(codes, len).to_vec(),
            std::slice::from_raw_parts(scales, nscales).to_vec(),
        )
    };
    Ok(TernaryMatrix::new(m, k, c, s, granularity(group)?)?)
}

/// b-bit weights from C arrays (m × k codes, `ngroups` scales and
/// offsets).
///
/// # Safety
/// The pointers hold what the header says.
#[allow(clippy::too_many_arguments)]
unsafe fn int_from_raw(
    codes: *const u8,
    scales: *const f32,
    offsets: *const f32,
    ngroups: usize,
    m: i64,
    k: i64,
    bits: c_int,
    group: i64,
) -> Result<IntMatrix, Fail> {
    non_null(codes, "codes")?;
    non_null(scales, "scales")?;
    non_null(offsets, "offsets")?;
    let (m, k) = (dim(m, "m")?, dim(k, "k")?);
    let len = elems([m, k], "m × k")?;
    let bits = bits_arg(bits)?;
    // SAFETY: the caller passes m × k codes and `ngroups` scales and
    // offsets.
    let (c, s, o) = unsafe {
        (
            std::slice::from_raw_parts(codes, len).to_vec(),
            std::slice::from_raw_parts(scales, ngroups).to_vec(),
            std::slice::from_raw_parts(offsets, ngroups).to_vec(),
        )
    };
    Ok(IntMatrix::new(m, k, bits, granularity(group)?, c, s, o)?)
}

/// The version string, `"MAJOR.MINOR.PATCH"`.
#[unsafe(no_mangle)]
pub extern "C" fn lutgemm_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A static description of a status code.
#[unsafe(no_mangle)]
pub extern "C" fn lutgemm_status_str(status: Status) -> *const c_char {
    let s: &'static str = match status {
        OK => "ok\0",
        ERR_NULL => "a required pointer is NULL\0",
        ERR_ARGUMENT => "invalid argument\0",
        ERR_SHAPE => "invalid shape\0",
        ERR_LENGTH => "wrong length\0",
        ERR_VALUE => "invalid value\0",
        ERR_NON_FINITE => "NaN or infinite activation\0",
        ERR_UNAVAILABLE => "kernel or ISA unavailable\0",
        ERR_WORKSPACE => "workspace too small or misaligned\0",
        ERR_INTERNAL => "internal error\0",
        _ => "unknown status\0",
    };
    s.as_ptr().cast()
}

/// The message of the last error on this thread ("" if none); valid until
/// the next lutgemm call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn lutgemm_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Fills `opts` with the defaults (Exact, automatic ISA and family).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_pack_options_default(opts: *mut CPackOptions) -> Status {
    guard(|| {
        non_null(opts, "opts")?;
        // SAFETY: non-null; the caller passes writable storage.
        unsafe {
            *opts = CPackOptions {
                contract: 0,
                isa: 0,
                family: 0,
                tokens: 1,
            }
        };
        Ok(())
    })
}

/// Quantizes float weights (m × k of `ty`) to ternary (absmean per group)
/// and packs them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_from_float_ternary(
    w: *const c_void,
    ty: c_int,
    m: i64,
    k: i64,
    group: i64,
    opts: *const CPackOptions,
    out: *mut *mut CWeights,
) -> Status {
    guard(|| {
        non_null(out, "out")?;
        // SAFETY: the caller passes m × k elements of `ty`.
        let (f, m, k) = unsafe { float_weights(w, ty, m, k)? };
        let o = options(opts)?;
        let t = TernaryMatrix::quantize_f32(&f, m, k, granularity(group)?)?;
        finish(PackedWeights::pack(&t, &o)?, out)
    })
}

/// Quantizes float weights (m × k of `ty`) to `bits`-bit integers with a
/// scale and offset per group (`symmetric` != 0: symmetric, else min/max)
/// and packs them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_from_float_int(
    w: *const c_void,
    ty: c_int,
    m: i64,
    k: i64,
    bits: c_int,
    group: i64,
    symmetric: c_int,
    opts: *const CPackOptions,
    out: *mut *mut CWeights,
) -> Status {
    guard(|| {
        non_null(out, "out")?;
        let bits = bits_arg(bits)?;
        let q = if symmetric != 0 {
            IntQuantizer::Symmetric
        } else {
            IntQuantizer::Asymmetric
        };
        // SAFETY: the caller passes m × k elements of `ty`.
        let (f, m, k) = unsafe { float_weights(w, ty, m, k)? };
        let o = options(opts)?;
        let t = IntMatrix::quantize_f32(&f, m, k, bits, granularity(group)?, q)?;
        finish(PackedWeights::pack(&t, &o)?, out)
    })
}

/// Packs ternary codes (m × k int8 in {−1, 0, 1}) with `nscales` scales
/// (1 per tensor, m per row, or m · k / group).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_from_ternary(
    codes: *const i8,
    scales: *const f32,
    nscales: usize,
    m: i64,
    k: i64,
    group: i64,
    opts: *const CPackOptions,
    out: *mut *mut CWeights,
) -> Status {
    guard(|| {
        non_null(out, "out")?;
        let o = options(opts)?;
        // SAFETY: forwarded from the caller.
        let t = unsafe { ternary_from_raw(codes, scales, nscales, m, k, group)? };
        finish(PackedWeights::pack(&t, &o)?, out)
    })
}

/// Packs `bits`-bit codes (m × k, one per byte) with `ngroups` scales and
/// offsets (`w = s · q + o` per group).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_from_int(
    codes: *const u8,
    scales: *const f32,
    offsets: *const f32,
    ngroups: usize,
    m: i64,
    k: i64,
    bits: c_int,
    group: i64,
    opts: *const CPackOptions,
    out: *mut *mut CWeights,
) -> Status {
    guard(|| {
        non_null(out, "out")?;
        let o = options(opts)?;
        // SAFETY: forwarded from the caller.
        let t = unsafe { int_from_raw(codes, scales, offsets, ngroups, m, k, bits, group)? };
        finish(PackedWeights::pack(&t, &o)?, out)
    })
}

/// Frees weights; NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_free(w: *mut CWeights) {
    if !w.is_null() {
        // SAFETY: `w` came from Box::into_raw in this module and is freed
        // once (caller contract).
        drop(unsafe { Box::from_raw(w) });
    }
}

/// # Safety
/// `w` is NULL or a live handle.
unsafe fn weights<'a>(w: *const CWeights) -> Result<&'a CWeights, Fail> {
    non_null(w, "w")?;
    // SAFETY: non-null live handle (caller contract).
    Ok(unsafe { &*w })
}

/// Rows of the weights (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_m(w: *const CWeights) -> i64 {
    // SAFETY: NULL or a live handle.
    unsafe { w.as_ref() }.map_or(0, |w| w.packed.m() as i64)
}

/// Columns of the weights (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_k(w: *const CWeights) -> i64 {
    // SAFETY: NULL or a live handle.
    unsafe { w.as_ref() }.map_or(0, |w| w.packed.k() as i64)
}

/// Bytes of packed weights (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_packed_bytes(w: *const CWeights) -> usize {
    // SAFETY: NULL or a live handle.
    unsafe { w.as_ref() }.map_or(0, |w| w.packed.packed_bytes())
}

/// What runs and why (owned by the weights; "" for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_describe(w: *const CWeights) -> *const c_char {
    // SAFETY: NULL or a live handle.
    match unsafe { w.as_ref() } {
        Some(w) => w.describe.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// The plan of a host-threaded call.
fn host_plan(w: &CWeights, n: i64, nth: c_int) -> Result<(Plan, usize), Fail> {
    let n = dim(n, "n")?;
    if nth < 1 {
        return fail(ERR_ARGUMENT, format!("nth must be at least 1, got {nth}"));
    }
    elems(
        [
            n,
            w.packed.k().max(w.packed.m() * w.packed.blocks_per_row()),
        ],
        "n × size",
    )?;
    let plan = Plan::new(
        w.packed.kernel(),
        &w.packed,
        n,
        nth as usize,
        true,
        Output::Floats,
    );
    Ok((plan, n))
}

/// Slack for aligning `wdata` inside the call: hosts may pass any
/// alignment (ggml's tensors are 16-byte aligned); every thread derives the
/// same 64-byte-aligned base from the same pointer.
const ALIGN_SLACK: usize = 63;

/// Bytes of `wdata` (any alignment) a host-threaded call of `n` tokens
/// needs on any thread count from 1 to `nth` (a host may fix the buffer
/// before it knows how many threads will run).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_work_size(
    w: *const CWeights,
    n: i64,
    nth: c_int,
    bytes: *mut usize,
) -> Status {
    guard(|| {
        non_null(bytes, "bytes")?;
        // SAFETY: NULL or a live handle.
        let w = unsafe { weights(w)? };
        host_plan(w, n, nth)?;
        let most = (1..=nth)
            .map(|t| host_plan(w, n, t).map(|(p, _)| p.workspace_bytes))
            .try_fold(0, |a, b| b.map(|b| a.max(b)))?;
        // SAFETY: non-null, writable (caller contract).
        unsafe { *bytes = most + ALIGN_SLACK };
        Ok(())
    })
}

fn check_thread(ith: c_int, nth: c_int) -> Result<(), Fail> {
    if nth < 1 || ith < 0 || ith >= nth {
        return fail(
            ERR_ARGUMENT,
            format!("need 0 <= ith < nth, got ith {ith}, nth {nth}"),
        );
    }
    Ok(())
}

/// The plan's workspace inside `wdata`, from its first 64-byte boundary.
///
/// # Safety
/// `wdata` is valid for `wsize` bytes.
unsafe fn workspace(plan: &Plan, wdata: *mut c_void, wsize: usize) -> Result<Workspace, Fail> {
    non_null(wdata, "wdata")?;
    let pad = (wdata as usize).next_multiple_of(64) - wdata as usize;
    if wsize < pad + plan.workspace_bytes {
        return fail(
            ERR_WORKSPACE,
            format!(
                "wdata of {wsize} bytes is smaller than the {} this call needs \
                 (lutgemm_work_size)",
                plan.workspace_bytes + ALIGN_SLACK
            ),
        );
    }
    // SAFETY: `pad + workspace_bytes ≤ wsize` bytes from wdata are valid
    // (caller contract).
    unsafe { Workspace::from_raw(wdata.cast::<u8>().add(pad), wsize - pad, plan) }
        .map_err(|e| Fail(ERR_WORKSPACE, e.to_string()))
}

/// What prepare and compute both check and build: the weights, the plan of
/// `(n, nth)` and the workspace inside `wdata`.
///
/// # Safety
/// `w` is NULL or a live handle; `wdata` is valid for `wsize` bytes.
unsafe fn host_call<'a>(
    w: *const CWeights,
    n: i64,
    ith: c_int,
    nth: c_int,
    wdata: *mut c_void,
    wsize: usize,
) -> Result<(&'a CWeights, Plan, usize, Workspace), Fail> {
    // SAFETY: forwarded.
    let w = unsafe { weights(w)? };
    check_thread(ith, nth)?;
    let (plan, n) = host_plan(w, n, nth)?;
    // SAFETY: forwarded.
    let ws = unsafe { workspace(&plan, wdata, wsize)? };
    Ok((w, plan, n, ws))
}

/// Thread `ith` of `nth` prepares its share of the `n` tokens of `x`
/// (n × k of `ty`) into `wdata`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_prepare(
    w: *const CWeights,
    x: *const c_void,
    ty: c_int,
    n: i64,
    ith: c_int,
    nth: c_int,
    wdata: *mut c_void,
    wsize: usize,
) -> Status {
    guard(|| {
        non_null(x, "x")?;
        // SAFETY: a live handle and wsize bytes of wdata (caller contract).
        let (w, plan, n, ws) = unsafe { host_call(w, n, ith, nth, wdata, wsize)? };
        let k = w.packed.k();
        let len = elems([n, k], "n × k")?;
        let (ith, nth) = (ith as usize, nth as usize);
        let tokens = n * ith / nth..n * (ith + 1) / nth;
        // SAFETY: the caller passes n × k elements of `ty`.
        let x = unsafe { Activations::new(x, ty, len)? };
        if ith == 0 {
            exec::publish_key(&ws);
        }
        exec::prepare_tokens(&plan, &x.input(), &ws, 0, tokens)?;
        Ok(())
    })
}

/// After every thread's `lutgemm_prepare` (a barrier), thread `ith` of
/// `nth` computes its share of `y` (n rows of m floats, `ldy` apart).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_compute(
    w: *const CWeights,
    n: i64,
    y: *mut f32,
    ldy: i64,
    ith: c_int,
    nth: c_int,
    wdata: *mut c_void,
    wsize: usize,
) -> Status {
    guard(|| {
        non_null(y, "y")?;
        // SAFETY: a live handle and wsize bytes of wdata (caller contract).
        let (w, plan, n, ws) = unsafe { host_call(w, n, ith, nth, wdata, wsize)? };
        let m = w.packed.m();
        let ldy = usize::try_from(ldy)
            .ok()
            .filter(|&l| l >= m)
            .ok_or_else(|| Fail(ERR_ARGUMENT, format!("ldy {ldy} is smaller than m = {m}")))?;
        elems([n, ldy], "n × ldy")?;
        let items = plan.items(n);
        let (ith, nth) = (ith as usize, nth as usize);
        let range = items * ith / nth..items * (ith + 1) / nth;
        let sink = Sink::Float { y, ldy };
        // SAFETY: y holds n rows of ldy ≥ m floats (caller contract); this
        // thread uses slot ith alone.
        let key = exec::call_key(&ws);
        if plan.private_tables && key == 0 {
            return fail(
                ERR_ARGUMENT,
                "wdata holds no prepared call: run lutgemm_prepare on every thread first",
            );
        }
        unsafe { exec::compute_items(&plan, &w.packed, &ws, 0, n, range, ith, sink, key) };
        Ok(())
    })
}

/// `y = x · Wᵀ` in one call on the library's own threads (`threads`: 0 all
/// cores, 1 the calling thread, n a private pool of n, kept for later
/// calls of this thread).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_matmul(
    w: *const CWeights,
    x: *const c_void,
    ty: c_int,
    n: i64,
    y: *mut f32,
    ldy: i64,
    threads: c_int,
) -> Status {
    guard(|| {
        // SAFETY: NULL or a live handle.
        let w = unsafe { weights(w)? };
        non_null(x, "x")?;
        non_null(y, "y")?;
        let n = dim(n, "n")?;
        let threads = usize::try_from(threads)
            .or_else(|_| fail(ERR_ARGUMENT, format!("threads {threads}")))?;
        let (m, k) = (w.packed.m(), w.packed.k());
        let ldy = usize::try_from(ldy)
            .ok()
            .filter(|&l| l >= m)
            .ok_or_else(|| Fail(ERR_ARGUMENT, format!("ldy {ldy} is smaller than m = {m}")))?;
        let xlen = elems([n, k], "n × k")?;
        elems([n, ldy], "n × ldy")?;
        CONTEXTS.with(|cs| -> Result<(), Fail> {
            let mut cs = cs.borrow_mut();
            let i = match cs.iter().position(|(t, _)| *t == threads) {
                Some(i) => i,
                None => {
                    cs.push((threads, Context::with_threads(threads)?));
                    cs.len() - 1
                }
            };
            let ctx = &mut cs[i].1;
            let sink = Sink::Float { y, ldy };
            // SAFETY: the caller passes n × k elements of `ty` and n rows of
            // ldy ≥ m floats of y.
            let x = unsafe { Activations::new(x, ty, xlen)? };
            ctx.run(&w.packed, n, x.input(), sink)?;
            Ok(())
        })
    })
}

fn gguf_type(ty: c_int) -> Result<crate::format::gguf::GgufType, Fail> {
    u32::try_from(ty)
        .ok()
        .and_then(crate::format::gguf::GgufType::from_ggml_type)
        .ok_or_else(|| Fail(ERR_ARGUMENT, format!("unsupported ggml type {ty}")))
}

/// Imports an m × k tensor of llama.cpp GGUF blocks (`ggml_type`: TQ1_0
/// 34, TQ2_0 35, Q4_0 2, Q4_K 12, Q2_K 10; rows of consecutive blocks,
/// `nbytes` bytes) without loss and packs it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_weights_from_gguf(
    ggml_type: c_int,
    blocks: *const c_void,
    nbytes: usize,
    m: i64,
    k: i64,
    opts: *const CPackOptions,
    out: *mut *mut CWeights,
) -> Status {
    guard(|| {
        non_null(out, "out")?;
        non_null(blocks, "blocks")?;
        let ty = gguf_type(ggml_type)?;
        let (m, k) = (dim(m, "m")?, dim(k, "k")?);
        let o = options(opts)?;
        // SAFETY: the caller passes nbytes readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(blocks.cast::<u8>(), nbytes) };
        let w = crate::format::gguf::import(ty, bytes, m, k)?;
        finish(PackedWeights::pack(w.as_dequantize(), &o)?, out)
    })
}

/// Bytes of an m × k tensor of `ggml_type` blocks.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_gguf_size(
    ggml_type: c_int,
    m: i64,
    k: i64,
    bytes: *mut usize,
) -> Status {
    guard(|| {
        non_null(bytes, "bytes")?;
        let ty = gguf_type(ggml_type)?;
        let n = ty.tensor_bytes(dim(m, "m")?, dim(k, "k")?)?;
        // SAFETY: non-null, writable.
        unsafe { *bytes = n };
        Ok(())
    })
}

/// Writes `bytes` (exactly `lutgemm_gguf_size` long) to `out`.
fn write_blocks(bytes: &[u8], out: *mut c_void, out_bytes: usize) -> Result<(), Fail> {
    if out_bytes != bytes.len() {
        return fail(
            ERR_LENGTH,
            format!(
                "output holds {out_bytes} bytes, the tensor needs {}",
                bytes.len()
            ),
        );
    }
    // SAFETY: the caller passes out_bytes writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.cast::<u8>(), bytes.len()) };
    Ok(())
}

/// Exports ternary codes and scales (as `lutgemm_weights_from_ternary`
/// takes them) as TQ1_0 (34) or TQ2_0 (35) blocks, without loss (scales
/// must be exact in f16, one per 256 weights or coarser); `out_bytes` must
/// be `lutgemm_gguf_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_gguf_export_ternary(
    codes: *const i8,
    scales: *const f32,
    nscales: usize,
    m: i64,
    k: i64,
    group: i64,
    ggml_type: c_int,
    out: *mut c_void,
    out_bytes: usize,
) -> Status {
    guard(|| {
        non_null(out, "out")?;
        let ty = gguf_type(ggml_type)?;
        // SAFETY: forwarded from the caller.
        let t = unsafe { ternary_from_raw(codes, scales, nscales, m, k, group)? };
        write_blocks(&crate::format::gguf::export(ty, &t)?, out, out_bytes)
    })
}

/// Exports 4-bit codes with scales and offsets (as `lutgemm_weights_from_int`
/// takes them) as Q4_0 (2) blocks, without loss (groups of 32, offset
/// = −8 · scale, scales exact in f16).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutgemm_gguf_export_int(
    codes: *const u8,
    scales: *const f32,
    offsets: *const f32,
    ngroups: usize,
    m: i64,
    k: i64,
    bits: c_int,
    group: i64,
    ggml_type: c_int,
    out: *mut c_void,
    out_bytes: usize,
) -> Status {
    guard(|| {
        non_null(out, "out")?;
        let ty = gguf_type(ggml_type)?;
        // SAFETY: forwarded from the caller.
        let t = unsafe { int_from_raw(codes, scales, offsets, ngroups, m, k, bits, group)? };
        write_blocks(&crate::format::gguf::export(ty, &t)?, out, out_bytes)
    })
}
