//! Shared helpers for the oracle tests.
#![allow(dead_code)]

use lutgemm::{
    Context, Contract, Dequantize, Format, GroupScaling, IntMatrix, Isa, KernelDesc, PackOptions,
    PackedWeights, ScaleGranularity, TernaryMatrix, kernels, reference,
};

/// Deterministic xorshift generator (tests must be reproducible without a
/// seed file).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f32 {
        let u1 = ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

/// Every kernel usable on this machine for `format` under `contract`.
pub fn kernels_for(format: Format, contract: Contract) -> Vec<&'static KernelDesc> {
    kernels::available()
        .filter(|k| k.supports(format) && k.contract == contract)
        .collect()
}

/// Every Exact kernel usable here for ternary weights.
pub fn kernels_here() -> Vec<&'static KernelDesc> {
    kernels_for(Format::Ternary, Contract::Exact)
}

pub fn random_ternary(m: usize, k: usize, g: ScaleGranularity, rng: &mut Rng) -> TernaryMatrix {
    let codes = (0..m * k).map(|_| rng.below(3) as i8 - 1).collect();
    let scales = (0..g.scale_count(m, k).unwrap())
        .map(|_| 0.01 + rng.f32().abs())
        .collect();
    TernaryMatrix::new(m, k, codes, scales, g).unwrap()
}

/// Random b-bit weights with random scales and offsets (or plane scales).
pub fn random_int(
    m: usize,
    k: usize,
    bits: u32,
    g: ScaleGranularity,
    planes: bool,
    rng: &mut Rng,
) -> IntMatrix {
    let codes = (0..m * k).map(|_| rng.below(1 << bits) as u8).collect();
    let count = g.scale_count(m, k).unwrap();
    let offsets = (0..count).map(|_| rng.f32() * 0.5).collect();
    if planes {
        let ps = (0..count * bits as usize).map(|_| rng.f32()).collect();
        IntMatrix::with_plane_scales(m, k, bits, g, codes, ps, offsets).unwrap()
    } else {
        let scales = (0..count).map(|_| 0.01 + rng.f32().abs()).collect();
        IntMatrix::new(m, k, bits, g, codes, scales, offsets).unwrap()
    }
}

pub fn random_q(n: usize, k: usize, rng: &mut Rng) -> Vec<i8> {
    (0..n * k)
        .map(|_| (rng.below(255) as i64 - 127) as i8)
        .collect()
}

pub fn pack_for<W: Dequantize + ?Sized>(w: &W, kernel: &'static KernelDesc) -> PackedWeights {
    let p = PackedWeights::pack(
        w,
        &PackOptions {
            kernel: Some(kernel),
            contract: kernel.contract,
            ..PackOptions::default()
        },
    )
    .unwrap();
    assert_eq!(p.kernel().name, kernel.name);
    p
}

/// Random b-bit weights whose scales and offsets are f16 values (GGUF
/// style), offsets all zero unless `offsets`.
pub fn random_int_f16(
    m: usize,
    k: usize,
    bits: u32,
    g: ScaleGranularity,
    offsets: bool,
    rng: &mut Rng,
) -> IntMatrix {
    let h = |v: f32| half::f16::from_f32(v).to_f32();
    let codes = (0..m * k).map(|_| rng.below(1 << bits) as u8).collect();
    let count = g.scale_count(m, k).unwrap();
    let scales = (0..count).map(|_| h(0.01 + rng.f32().abs())).collect();
    let offs = (0..count)
        .map(|_| if offsets { h(rng.f32() * 0.5) } else { 0.0 })
        .collect();
    IntMatrix::new(m, k, bits, g, codes, scales, offs).unwrap()
}

/// Checks one Exact kernel on one input against the reference: exact
/// integer sums, the portable kernel on the same packed bytes (integer
/// sums and, bit for bit, float results), and the float result within the
/// documented bound of its group scaling (`src/epilogue.rs`). Returns the
/// float result.
pub fn check_kernel<W: Dequantize + ?Sized>(
    w: &W,
    kernel: &'static KernelDesc,
    q: &[i8],
    d: &[f32],
    n: usize,
    want_sums: &[i32],
) -> Vec<f32> {
    check_packed(w, &pack_for(w, kernel), q, d, n, want_sums)
}

/// [`check_kernel`] on weights already packed for the kernel.
pub fn check_packed<W: Dequantize + ?Sized>(
    w: &W,
    packed: &PackedWeights,
    q: &[i8],
    d: &[f32],
    n: usize,
    want_sums: &[i32],
) -> Vec<f32> {
    let kernel = packed.kernel();
    let mut ctx = Context::with_threads(1).unwrap();
    let mut sums = vec![0i32; want_sums.len()];
    ctx.integer_sums(packed, q, n, &mut sums).unwrap();
    assert_eq!(ctx.last_kernel().unwrap().name, kernel.name);
    if let Some(i) = sums.iter().zip(want_sums).position(|(a, b)| a != b) {
        panic!(
            "{} ({}): m={} k={} n={} group {}: integer sum {i} is {}, reference {}",
            kernel.name,
            w.format(),
            w.m(),
            w.k(),
            n,
            w.group_len(),
            sums[i],
            want_sums[i]
        );
    }
    // The portable kernel on the very same packed bytes.
    if kernel.isa != Isa::Scalar {
        ctx.set_isa(Some(Isa::Scalar));
        let mut again = vec![0i32; want_sums.len()];
        ctx.integer_sums(packed, q, n, &mut again).unwrap();
        assert_eq!(
            again, sums,
            "{}: portable kernel on the same layout",
            kernel.name
        );
        ctx.set_isa(None);
    }
    let mut y = vec![0f32; n * w.m()];
    ctx.matmul_i8(packed, q, d, n, &mut y).unwrap();
    if kernel.isa != Isa::Scalar {
        ctx.set_isa(Some(Isa::Scalar));
        let mut yp = vec![0f32; n * w.m()];
        ctx.matmul_i8(packed, q, d, n, &mut yp).unwrap();
        ctx.set_isa(None);
        if let Some(i) = (0..y.len()).find(|&i| y[i].to_bits() != yp[i].to_bits()) {
            panic!(
                "{} ({:?}): y[{i}] = {:e}, the portable kernel on the same bytes gives {:e}",
                kernel.name,
                packed.group_scaling(),
                y[i],
                yp[i]
            );
        }
    }
    check_result(packed, w, q, d, n, &y);
    y
}

/// `y` (from `p`) within the bound of `p`'s group scaling: [`check_float`]
/// for the f64 epilogue, [`check_fused`] for fused weights.
pub fn check_result<W: Dequantize + ?Sized>(
    p: &PackedWeights,
    w: &W,
    q: &[i8],
    d: &[f32],
    n: usize,
    y: &[f32],
) {
    match p.group_scaling() {
        GroupScaling::Epilogue => check_float(w, q, d, n, y, p.kernel().name),
        _ => check_fused(w, q, d, n, y, p.kernel().name),
    }
}

/// `y` within the fused group scaling's bound (`src/epilogue.rs`) of the
/// Exact contract's exact value `y*`:
/// `|y − y*| ≤ u·|y*| + 2^−150 + (1 + u)·γ_{3·nb}·|d|·Σ_g (|s·isum| + |o·qsum|)`.
pub fn check_fused<W: Dequantize + ?Sized>(
    w: &W,
    q: &[i8],
    d: &[f32],
    n: usize,
    y: &[f32],
    what: &str,
) {
    let (m, k, bl) = (w.m(), w.k(), w.group_len());
    let nb = k / bl;
    let want = reference::matmul_exact(w, q, d, n);
    let sums = reference::integer_sums(w, q, n);
    let u = f32::EPSILON as f64 / 2.0;
    let gamma = 3.0 * nb as f64 * u / (1.0 - 3.0 * nb as f64 * u);
    for t in 0..n {
        let qsum: Vec<f64> = (0..nb)
            .map(|g| q[t * k + g * bl..][..bl].iter().map(|&v| v as f64).sum())
            .collect();
        for r in 0..m {
            let mag: f64 = (0..nb)
                .map(|g| {
                    let isum = sums[(t * m + r) * nb + g] as f64;
                    (w.scale(r, g) as f64 * isum).abs() + (w.offset(r, g) as f64 * qsum[g]).abs()
                })
                .sum();
            let exp = want[t * m + r];
            let tol =
                u * exp.abs() + 2f64.powi(-150) + (1.0 + u) * gamma * (d[t] as f64).abs() * mag;
            let got = y[t * m + r] as f64;
            assert!(
                (got - exp).abs() <= tol,
                "{what} (fused): y[{t},{r}] = {got}, reference {exp} (tolerance {tol})"
            );
        }
    }
}

/// `y` is the Exact contract's f64 value rounded once to f32 (the epilogue
/// works in f64): within half an ulp of it, plus the f64 evaluation error.
pub fn check_float<W: Dequantize + ?Sized>(
    w: &W,
    q: &[i8],
    d: &[f32],
    n: usize,
    y: &[f32],
    what: &str,
) {
    let want = reference::matmul_exact(w, q, d, n);
    for (i, (&got, &exp)) in y.iter().zip(&want).enumerate() {
        let tol = exp.abs() * f32::EPSILON as f64 * 0.5001 + 1e-300;
        let (t, r) = (i / w.m(), i % w.m());
        assert!(
            (got as f64 - exp).abs() <= tol || (got as f64 == exp as f32 as f64),
            "{what}: y[{t},{r}] = {got}, reference {exp} (tolerance {tol})"
        );
    }
}

/// Runs every available Exact kernel for `w`'s format on `q`, checks each,
/// and checks that all kernels with the same group scaling give
/// bit-identical floats. (Kernels that fuse the group scaling into an f32
/// accumulation legitimately differ from the f64 epilogue's result, within
/// the bound `check_fused` tests; among themselves they agree bit for bit.)
pub fn check_all_kernels<W: Dequantize + ?Sized>(w: &W, q: &[i8], d: &[f32], n: usize) {
    let want = reference::integer_sums(w, q, n);
    let mut first: Vec<(GroupScaling, Vec<f32>, &str)> = Vec::new();
    for kernel in kernels_for(w.format(), Contract::Exact) {
        if w.has_plane_scales() && kernel.family() != lutgemm::KernelFamily::BitLutG4 {
            continue;
        }
        let packed = pack_for(w, kernel);
        let y = check_packed(w, &packed, q, d, n, &want);
        let scaling = packed.group_scaling();
        match first.iter().find(|(s, _, _)| *s == scaling) {
            None => first.push((scaling, y, kernel.name)),
            Some((_, y0, name)) => assert!(
                y0.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{} and {name} ({scaling:?}) differ in float results",
                kernel.name
            ),
        }
    }
    assert!(!first.is_empty(), "no Exact kernel for {}", w.format());
}

pub const GRANULARITIES: [fn(usize) -> Option<ScaleGranularity>; 4] = [
    |_| Some(ScaleGranularity::PerTensor),
    |_| Some(ScaleGranularity::PerRow),
    |k| (k % 32 == 0).then_some(ScaleGranularity::PerBlock(32)),
    |k| (k % 256 == 0).then_some(ScaleGranularity::PerBlock(256)),
];

/// Whether the suite runs under emulation or wants a short run
/// (`LUTGEMM_TEST_SHAPES=small`): fewer real shapes.
pub fn small_shapes() -> bool {
    std::env::var("LUTGEMM_TEST_SHAPES").is_ok_and(|v| v == "small")
}

/// `y = x · Wᵀ` (n tokens) through `p` on one thread.
pub fn matmul_one_thread(p: &PackedWeights, x: &[f32], n: usize) -> Vec<f32> {
    let mut y = vec![0f32; n * p.m()];
    Context::with_threads(1)
        .unwrap()
        .matmul(p, x, n, &mut y)
        .unwrap();
    y
}

/// `y = x · Wᵀ` through `p` on 1, 2, 3 threads and the global pool: every
/// result bit-identical.
pub fn assert_thread_invariant(p: &PackedWeights, x: &[f32], n: usize) {
    let mut first: Option<Vec<f32>> = None;
    for threads in [1, 2, 3, 0] {
        let mut ctx = Context::with_threads(threads).unwrap();
        let mut y = vec![0f32; n * p.m()];
        ctx.matmul(p, x, n, &mut y).unwrap();
        match &first {
            None => first = Some(y),
            Some(y0) => assert!(
                y0.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{}: {threads} threads differ from 1",
                p.kernel().name
            ),
        }
    }
}

/// The proptest settings of these suites: `cases` cases (8 under
/// emulation, see [`small_shapes`]) and no failure-persistence file
/// (tests/ cannot locate lib.rs for the default one).
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: if small_shapes() { 8 } else { cases },
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Off)),
        ..proptest::test_runner::Config::default()
    }
}

/// Normalized mean squared error of `y` against the f64 oracle `want`.
pub fn nmse(y: &[f32], want: &[f64]) -> f64 {
    let num: f64 = y
        .iter()
        .zip(want)
        .map(|(a, b)| (*a as f64 - b).powi(2))
        .sum();
    let den: f64 = want.iter().map(|b| b * b).sum();
    num / den
}

/// The Float contract's bound, element by element: `|y − y_f64| ≤ 1e-5 ·
/// Σ|x·w|` (`mag`, from `reference::abs_products`).
pub fn assert_float_bound(y: &[f32], want: &[f64], mag: &[f64], what: &str) {
    for (i, ((&got, &exp), &mag)) in y.iter().zip(want).zip(mag).enumerate() {
        let tol = 1e-5 * mag + 1e-30;
        assert!(
            (got as f64 - exp).abs() <= tol,
            "{what}: y[{i}] = {got}, oracle {exp}, bound {tol} (Σ|x·w| {mag})"
        );
    }
}
