//! Verification of every row before it is timed (the rules are in the doc
//! comment of `main.rs`): the portable kernel and the integer oracle for
//! Exact, the f64 oracle for Fast and Float, f64 for the dense baseline.

use crate::common;
use lutgemm::{Context, Contract, Dequantize, PackedWeights, reference};

/// Tokens every row is verified on (at most).
pub const VERIFY_N: usize = 2;
/// The Float contract's documented bound, relative to `Σ |x · w|`.
const FLOAT_BOUND: f64 = 1e-5;
/// The Fast contract's worst documented NMSE against the f64 oracle.
const FAST_NMSE: f64 = 1e-3;
/// Bound for the dense f32 baseline (f32 accumulation over k up to 14336
/// may exceed 1e-5 in the worst case; a sanity check, not a contract).
const DENSE_BOUND: f64 = 1e-4;

/// The oracle for one weight matrix on `VERIFY_N` fixed tokens, computed
/// on first use and shared by every kernel, contract and n (a row with n'
/// tokens reads the first n' of them).
pub struct Oracle<'a> {
    w: &'a dyn Dequantize,
    /// VERIFY_N × k activations.
    x: Vec<f32>,
    /// Their Exact-contract quantization.
    q: Vec<i8>,
    sums: Option<Vec<i32>>,
    /// `y_f64` and `Σ |x · w|`, VERIFY_N × m.
    y64: Option<(Vec<f64>, Vec<f64>)>,
}

impl<'a> Oracle<'a> {
    pub fn new(w: &'a dyn Dequantize) -> Oracle<'a> {
        let x = common::values(VERIFY_N * w.k(), 99);
        let (q, _) = reference::quantize_activations(&x, VERIFY_N, w.k());
        Oracle {
            w,
            x,
            q,
            sums: None,
            y64: None,
        }
    }

    fn sums(&mut self) -> &[i32] {
        self.sums
            .get_or_insert_with(|| reference::integer_sums(self.w, &self.q, VERIFY_N))
    }

    /// Row by row from `Dequantize::weight` (never materializes m × k f64).
    fn y64(&mut self) -> &(Vec<f64>, Vec<f64>) {
        let (w, x) = (self.w, &self.x);
        self.y64.get_or_insert_with(|| {
            let (m, k) = (w.m(), w.k());
            let mut y = vec![0f64; VERIFY_N * m];
            let mut mag = vec![0f64; VERIFY_N * m];
            let mut wr = vec![0f64; k];
            for r in 0..m {
                for (c, v) in wr.iter_mut().enumerate() {
                    *v = w.weight(r, c);
                }
                for t in 0..VERIFY_N {
                    let (mut s, mut a) = (0f64, 0f64);
                    for (&xv, &wv) in x[t * k..(t + 1) * k].iter().zip(&wr) {
                        let p = xv as f64 * wv;
                        s += p;
                        a += p.abs();
                    }
                    y[t * m + r] = s;
                    mag[t * m + r] = a;
                }
            }
            (y, mag)
        })
    }
}

/// `err ≤ bound`, false for NaN.
fn within(err: f64, bound: f64) -> bool {
    err <= bound
}

fn first_diff<T: PartialEq>(a: &[T], b: &[T]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

fn ran(ctx: &Context, want: &str) -> Result<(), String> {
    match ctx.last_kernel() {
        Some(k) if k.name == want => Ok(()),
        other => Err(format!(
            "expected kernel {want} to run, ran {}",
            other.map_or("nothing", |k| k.name)
        )),
    }
}

/// Verifies `p` on the first min(n, VERIFY_N) oracle tokens; `Err` says
/// what differed, where, and the values.
pub fn verify(
    ctx: &mut Context,
    portable: &mut Context,
    p: &PackedWeights,
    oracle: &mut Oracle,
    n: usize,
) -> Result<(), String> {
    let nv = n.min(VERIFY_N);
    let (m, k) = (p.m(), p.k());
    let x = &oracle.x[..nv * k].to_vec();
    let name = p.kernel().name;
    match p.contract() {
        Contract::Exact => {
            let (nb, planes) = (p.blocks_per_row(), p.planes_out());
            let len = nv * m * nb * planes;
            let at = |i: usize| {
                format!(
                    "index {i} (token {}, row {}, group {}{})",
                    i / (m * nb * planes),
                    i / (nb * planes) % m,
                    i / planes % nb,
                    if planes > 1 {
                        format!(", plane {}", i % planes)
                    } else {
                        String::new()
                    }
                )
            };
            let q = &oracle.q[..nv * k].to_vec();
            let mut got = vec![0i32; len];
            ctx.integer_sums(p, q, nv, &mut got)
                .map_err(|e| format!("integer_sums: {e}"))?;
            ran(ctx, name)?;
            let mut port = vec![0i32; len];
            portable
                .integer_sums(p, q, nv, &mut port)
                .map_err(|e| format!("portable integer_sums: {e}"))?;
            if let Some(i) = first_diff(&got, &port) {
                return Err(format!(
                    "integer sums differ from the portable kernel ({}) on the same bytes at {}: \
                     {} vs {}",
                    portable.last_kernel().map_or("?", |k| k.name),
                    at(i),
                    got[i],
                    port[i]
                ));
            }
            let want = oracle.sums();
            if want.len() < len {
                return Err(format!(
                    "{} integer sums, the oracle has {} (groups or planes disagree)",
                    len,
                    want.len()
                ));
            }
            if let Some(i) = first_diff(&got, &want[..len]) {
                return Err(format!(
                    "integer sums differ from reference::integer_sums at {}: {} vs {}",
                    at(i),
                    got[i],
                    want[i]
                ));
            }
            let mut y = vec![0f32; nv * m];
            ctx.matmul(p, x, nv, &mut y)
                .map_err(|e| format!("matmul: {e}"))?;
            ran(ctx, name)?;
            let mut yp = vec![0f32; nv * m];
            portable
                .matmul(p, x, nv, &mut yp)
                .map_err(|e| format!("portable matmul: {e}"))?;
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
            if let Some(i) = first_diff(&bits(&y), &bits(&yp)) {
                return Err(format!(
                    "f32 result differs from the portable kernel's bit for bit at y[{i}] \
                     (token {}, row {}): {:e} vs {:e}",
                    i / m,
                    i % m,
                    y[i],
                    yp[i]
                ));
            }
        }
        contract => {
            let mut y = vec![0f32; nv * m];
            ctx.matmul(p, x, nv, &mut y)
                .map_err(|e| format!("matmul: {e}"))?;
            ran(ctx, name)?;
            let (want, mag) = oracle.y64();
            if contract == Contract::Float {
                for (i, &got) in y.iter().enumerate() {
                    let tol = FLOAT_BOUND * mag[i] + 1e-30;
                    let err = (got as f64 - want[i]).abs();
                    if !within(err, tol) {
                        return Err(format!(
                            "y[{i}] (token {}, row {}) = {got:e}, f64 oracle {:e}: error {err:.3e} \
                             > bound {tol:.3e} (1e-5 · Σ|x·w|)",
                            i / m,
                            i % m,
                            want[i]
                        ));
                    }
                }
            } else {
                let (mut num, mut den, mut worst) = (0f64, 0f64, (0usize, -1f64));
                for (i, &got) in y.iter().enumerate() {
                    let e = (got as f64 - want[i]).powi(2);
                    num += e;
                    den += want[i] * want[i];
                    if e.is_nan() || e > worst.1 {
                        worst = (i, e);
                    }
                }
                let nmse = num / den;
                if !within(nmse, FAST_NMSE) {
                    let i = worst.0;
                    return Err(format!(
                        "NMSE {nmse:.3e} > {FAST_NMSE:.0e} against the f64 oracle; worst \
                         y[{i}] (token {}, row {}) = {:e}, oracle {:e}",
                        i / m,
                        i % m,
                        y[i],
                        want[i]
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Checks the dense baseline's `y` (n × m) on about 32 rows against f64.
pub fn verify_dense(
    w: &[f32],
    x: &[f32],
    y: &[f32],
    m: usize,
    k: usize,
    n: usize,
) -> Result<(), String> {
    for r in (0..m).step_by((m / 32).max(1)) {
        let wr = &w[r * k..(r + 1) * k];
        for t in 0..n {
            let (mut s, mut a) = (0f64, 0f64);
            for (&xv, &wv) in x[t * k..(t + 1) * k].iter().zip(wr) {
                let p = xv as f64 * wv as f64;
                s += p;
                a += p.abs();
            }
            let got = y[t * m + r];
            let tol = DENSE_BOUND * a + 1e-30;
            if !within((got as f64 - s).abs(), tol) {
                return Err(format!(
                    "y[{}] (token {t}, row {r}) = {got:e}, f64 {s:e}: error > {tol:.3e}",
                    t * m + r
                ));
            }
        }
    }
    Ok(())
}
