//! Shared helpers for the oracle tests.
#![allow(dead_code)]

use lutgemm::{
    Context, Isa, KernelDesc, PackOptions, PackedTernary, ScaleGranularity, TernaryMatrix, kernels,
    reference,
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
}

/// Every kernel usable on this machine.
pub fn kernels_here() -> Vec<&'static KernelDesc> {
    kernels::available().collect()
}

pub fn random_ternary(m: usize, k: usize, g: ScaleGranularity, rng: &mut Rng) -> TernaryMatrix {
    let codes = (0..m * k).map(|_| rng.below(3) as i8 - 1).collect();
    let scales = (0..g.scale_count(m, k))
        .map(|_| 0.01 + rng.f32().abs())
        .collect();
    TernaryMatrix::new(m, k, codes, scales, g).unwrap()
}

pub fn random_q(n: usize, k: usize, rng: &mut Rng) -> Vec<i8> {
    (0..n * k)
        .map(|_| (rng.below(255) as i64 - 127) as i8)
        .collect()
}

pub fn pack_for(w: &TernaryMatrix, kernel: &KernelDesc) -> PackedTernary {
    let p = PackedTernary::pack(
        w,
        &PackOptions {
            family: Some(kernel.family),
            isa: Some(kernel.isa),
        },
    )
    .unwrap();
    assert_eq!(p.kernel().name, kernel.name);
    p
}

/// Checks one kernel on one input against the reference: exact integer
/// sums, the portable kernel on the same packed bytes, and the float result
/// within the documented bound. Returns the float result.
pub fn check_kernel(
    w: &TernaryMatrix,
    kernel: &KernelDesc,
    q: &[i8],
    d: &[f32],
    n: usize,
    want_sums: &[i32],
) -> Vec<f32> {
    let packed = pack_for(w, kernel);
    let mut ctx = Context::with_threads(1).unwrap();
    let mut sums = vec![0i32; want_sums.len()];
    ctx.integer_sums(&packed, q, n, &mut sums).unwrap();
    assert_eq!(ctx.last_kernel().unwrap().name, kernel.name);
    if let Some(i) = sums.iter().zip(want_sums).position(|(a, b)| a != b) {
        let nb = w.blocks_per_row();
        let (t, r, b) = (i / nb / w.m(), i / nb % w.m(), i % nb);
        panic!(
            "{}: m={} k={} n={} {:?}: integer sum of token {t}, row {r}, block {b} is {}, reference {}",
            kernel.name,
            w.m(),
            w.k(),
            n,
            w.granularity(),
            sums[i],
            want_sums[i]
        );
    }
    // The portable kernel on the very same packed bytes.
    if kernel.isa != Isa::Scalar {
        ctx.set_isa(Some(Isa::Scalar));
        let mut again = vec![0i32; want_sums.len()];
        ctx.integer_sums(&packed, q, n, &mut again).unwrap();
        assert_eq!(
            again, sums,
            "{}: portable kernel on the same layout",
            kernel.name
        );
        ctx.set_isa(None);
    }
    let mut y = vec![0f32; n * w.m()];
    ctx.matmul_i8(&packed, q, d, n, &mut y).unwrap();
    check_float(w, q, d, n, &y, kernel.name);
    y
}

/// `y` within a few ulps of the exact contract's f64 value, measured
/// against the magnitude of the summed terms (blocks may cancel).
pub fn check_float(w: &TernaryMatrix, q: &[i8], d: &[f32], n: usize, y: &[f32], what: &str) {
    let want = reference::matmul_exact(w, q, d, n);
    let sums = reference::integer_sums(w, q, n);
    let (m, nb) = (w.m(), w.blocks_per_row());
    for t in 0..n {
        for r in 0..m {
            let mag: f64 = (0..nb)
                .map(|b| (w.scale(r, b) as f64 * sums[(t * m + r) * nb + b] as f64).abs())
                .sum::<f64>()
                * d[t] as f64;
            let tol = (nb as f64 + 2.0) * f32::EPSILON as f64 * mag;
            let got = y[t * m + r] as f64;
            let exp = want[t * m + r];
            assert!(
                (got - exp).abs() <= tol,
                "{what}: y[{t},{r}] = {got}, reference {exp} (tolerance {tol})"
            );
        }
    }
}

/// Runs every available kernel on `w` and `q`, checks each, and checks that
/// all give bit-identical floats.
pub fn check_all_kernels(w: &TernaryMatrix, q: &[i8], d: &[f32], n: usize) {
    let want = reference::integer_sums(w, q, n);
    let mut first: Option<(Vec<f32>, &str)> = None;
    for kernel in kernels_here() {
        let y = check_kernel(w, kernel, q, d, n, &want);
        match &first {
            None => first = Some((y, kernel.name)),
            Some((y0, name)) => assert!(
                y0.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{} and {name} differ in float results",
                kernel.name
            ),
        }
    }
}

pub const GRANULARITIES: [fn(usize) -> Option<ScaleGranularity>; 4] = [
    |_| Some(ScaleGranularity::PerTensor),
    |_| Some(ScaleGranularity::PerRow),
    |k| (k % 32 == 0).then_some(ScaleGranularity::PerBlock(32)),
    |k| (k % 256 == 0).then_some(ScaleGranularity::PerBlock(256)),
];
