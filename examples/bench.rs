//! Quick bench and verification: every kernel × ISA of every (format,
//! group, contract) case on the real shapes, one line per row, with ratios
//! to the multiply-add kernel of the same ISA and to a dense f32 GEMM
//! (matrixmultiply) measured in the same run.
//!
//! ```text
//! cargo run --release --example bench -- [options]
//!   --threads N      threads for lutgemm (default 1; 0 = all cores)
//!   --shapes LIST    m×k list, e.g. 4096x4096,2560x6912 (default: DESIGN.md §1)
//!   --n LIST         token counts (default 1,8,256)
//!   --isa LIST       scalar,avx2,avx512 (default: every available ISA)
//!   --kernel LIST    kernel families mad,lut_g2,lut_g4,bitlut_g4 (default: all)
//!   --format LIST    ternary,int1,int2,int3,int4 (default: ternary,int2,int4)
//!   --group LIST     scale group lengths along k, 0 = whole row (ternary: one
//!                    scale per tensor); default per format: ternary 0,
//!                    int2 64, int4 32 and 128, int1/int3 64
//!   --contract LIST  exact,fast,float (default: all)
//!   --time SECS      measuring time per row (default 0.25)
//!   --json PATH      also write one JSON object per row to PATH
//!   --no-dense       skip the dense f32 baseline
//! ```
//!
//! Scalar kernels are skipped at n > 8 unless `--isa scalar` is given
//! explicitly (a single such call takes seconds). Times are end to end:
//! activation quantization and table building are included. A group that
//! does not divide k skips its case for that shape.
//!
//! Every row is verified before it is timed, on its own m × k and
//! n' = min(n, 2) tokens:
//! - Exact: the integer sums ([`Context::integer_sums`]) equal, bit for
//!   bit, those of the portable kernel on the same packed bytes
//!   (`set_isa(Some(Isa::Scalar))`) and the oracle's
//!   ([`reference::integer_sums`]); the f32 result equals the portable
//!   kernel's bit for bit.
//! - Float: `|y − y_f64| ≤ 1e-5 · Σ_c |x_c · w_rc| + 1e-30` per element,
//!   against the f64 oracle computed row by row from
//!   [`Dequantize::weight`].
//! - Fast: NMSE `Σ (y − y_f64)² / Σ y_f64² ≤ 1e-3` against the same oracle.
//! - The dense baseline: sampled rows within `1e-4 · Σ |x · w|` of f64.
//!
//! A failed row prints a line starting with `FAIL`, is not timed, and makes
//! the process exit with status 1 after the other rows.

#[path = "../benches/common/mod.rs"]
mod common;

use common::Case;
use lutgemm::{
    Context, Contract, Dequantize, Format, Isa, KernelFamily, PackOptions, PackedWeights, reference,
};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Tokens every row is verified on (at most).
const VERIFY_N: usize = 2;
/// The Float contract's documented bound, relative to `Σ |x · w|`.
const FLOAT_BOUND: f64 = 1e-5;
/// The Fast contract's worst documented NMSE against the f64 oracle.
const FAST_NMSE: f64 = 1e-3;
/// Bound for the dense f32 baseline (f32 accumulation over k up to 14336
/// may exceed 1e-5 in the worst case; a sanity check, not a contract).
const DENSE_BOUND: f64 = 1e-4;

struct Args {
    threads: usize,
    shapes: Vec<(usize, usize)>,
    ns: Vec<usize>,
    isas: Option<Vec<Isa>>,
    families: Vec<KernelFamily>,
    formats: Vec<Format>,
    groups: Option<Vec<usize>>,
    contracts: Vec<Contract>,
    time: f64,
    json: Option<String>,
    dense: bool,
}

fn parse_list<T>(flag: &str, s: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    s.split(',')
        .map(|p| f(p.trim()).ok_or_else(|| format!("{flag}: cannot parse {p:?}")))
        .collect()
}

/// A family name, or the short forms older docs used (`lut2`, `lut4`).
fn parse_family(s: &str) -> Option<KernelFamily> {
    KernelFamily::from_name(s).or(match s {
        "lut2" => Some(KernelFamily::LutG2),
        "lut4" => Some(KernelFamily::LutG4),
        "bitlut" | "bitlut4" => Some(KernelFamily::BitLutG4),
        _ => None,
    })
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        threads: 1,
        shapes: common::SHAPES.iter().map(|&(m, k, _)| (m, k)).collect(),
        ns: common::NS.to_vec(),
        isas: None,
        families: KernelFamily::ALL.to_vec(),
        formats: vec![Format::Ternary, Format::Int2, Format::Int4],
        groups: None,
        contracts: Contract::ALL.to_vec(),
        time: 0.25,
        json: None,
        dense: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--threads" => a.threads = val()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--shapes" => {
                a.shapes = parse_list(&flag, &val()?, |s| {
                    let (m, k) = s.split_once(['x', '×'])?;
                    let (m, k) = (m.parse().ok()?, k.parse().ok()?);
                    (m > 0 && k > 0).then_some((m, k))
                })?
            }
            "--n" => a.ns = parse_list(&flag, &val()?, |s| s.parse().ok().filter(|&n| n > 0))?,
            "--isa" => a.isas = Some(parse_list(&flag, &val()?, |s| Isa::from_name(s).ok())?),
            "--kernel" => a.families = parse_list(&flag, &val()?, parse_family)?,
            "--format" => a.formats = parse_list(&flag, &val()?, Format::from_name)?,
            "--group" => a.groups = Some(parse_list(&flag, &val()?, |s| s.parse().ok())?),
            "--contract" => a.contracts = parse_list(&flag, &val()?, Contract::from_name)?,
            "--time" => a.time = val()?.parse().map_err(|e| format!("--time: {e}"))?,
            "--json" => a.json = Some(val()?),
            "--no-dense" => a.dense = false,
            "--help" | "-h" => {
                println!("see the doc comment of examples/bench.rs for options");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// Median of repeated runs: one warm-up, then as many as fit in `budget`
/// (at least 3, at most 1000).
fn median_time(budget: f64, mut f: impl FnMut()) -> Duration {
    let t0 = Instant::now();
    f();
    let once = t0.elapsed().as_secs_f64().max(1e-7);
    let reps = ((budget / once) as usize).clamp(3, 1000);
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[reps / 2]
}

/// One output row (a kernel, or the dense baseline, at one shape and n).
struct Row {
    kernel: String,
    isa: &'static str,
    format: &'static str,
    group: usize,
    group_label: String,
    contract: &'static str,
    m: usize,
    k: usize,
    n: usize,
    threads: usize,
    /// Median time; `None` when verification failed (not timed).
    ns: Option<f64>,
    weight_bytes: usize,
    vs_mad: Option<f64>,
    vs_dense: Option<f64>,
    selected: bool,
    /// `Err(what differed)` when verification failed.
    verified: Result<(), String>,
}

const HEADER: &str = "kernel                   isa    format  group  contract      m      k    n   median_us    GOP/s    wGB/s  vs_mad vs_dense";

impl Row {
    fn gops(&self) -> Option<f64> {
        self.ns.map(|t| 2.0 * (self.m * self.n * self.k) as f64 / t)
    }
    fn weight_gbps(&self) -> Option<f64> {
        self.ns.map(|t| self.weight_bytes as f64 / t)
    }

    fn print(&self) {
        let ratio = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}x"));
        let num = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
        println!(
            "{:<24} {:<6} {:<7} {:>6} {:<8} {:>6} {:>6} {:>4} {:>11} {:>8} {:>8} {:>7} {:>8}{}",
            self.kernel,
            self.isa,
            self.format,
            self.group_label,
            self.contract,
            self.m,
            self.k,
            self.n,
            num(self.ns.map(|t| t / 1e3), 1),
            num(self.gops(), 1),
            num(self.weight_gbps(), 2),
            ratio(self.vs_mad),
            ratio(self.vs_dense),
            if self.selected { "  <- selected" } else { "" }
        );
    }

    fn json(&self) -> String {
        let opt = |v: Option<f64>, p: usize| v.map_or("null".to_string(), |v| format!("{v:.p$}"));
        let error = match &self.verified {
            Ok(()) => String::new(),
            Err(e) => format!(",\"error\":{}", json_string(e)),
        };
        format!(
            "{{\"format\":\"{}\",\"group\":{},\"contract\":\"{}\",\"kernel\":\"{}\",\"isa\":\"{}\",\
             \"m\":{},\"k\":{},\"n\":{},\"threads\":{},\"median_ns\":{},\"gops\":{},\
             \"weight_gbps\":{},\"weight_bytes\":{},\"speedup_vs_mad\":{},\
             \"speedup_vs_dense_f32\":{},\"selected\":{},\"verified\":{}{}}}",
            self.format,
            self.group,
            self.contract,
            self.kernel,
            self.isa,
            self.m,
            self.k,
            self.n,
            self.threads,
            opt(self.ns, 0),
            opt(self.gops(), 3),
            opt(self.weight_gbps(), 3),
            self.weight_bytes,
            opt(self.vs_mad, 4),
            opt(self.vs_dense, 4),
            self.selected,
            self.verified.is_ok(),
            error
        )
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The oracle for one weight matrix on `VERIFY_N` fixed tokens, computed
/// on first use and shared by every kernel, contract and n (a row with n'
/// tokens reads the first n' of them).
struct Oracle<'a> {
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
    fn new(w: &'a dyn Dequantize) -> Oracle<'a> {
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
fn verify(
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
fn verify_dense(
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

fn group_label(case: &Case) -> String {
    match (case.format, case.group) {
        (Format::Ternary, 0) => "tensor".to_string(),
        (_, 0) => "row".to_string(),
        (_, g) => g.to_string(),
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let explicit_scalar = args.isas.as_ref().is_some_and(|v| v.contains(&Isa::Scalar));
    let isas: Vec<Isa> = args.isas.clone().unwrap_or_else(Isa::available);
    for isa in &isas {
        if let Err(e) = isa.require() {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    }
    let mut cases: Vec<Case> = Vec::new();
    for &format in &args.formats {
        let groups = args
            .groups
            .clone()
            .unwrap_or_else(|| common::default_groups(format));
        for g in groups {
            let case = Case::new(format, g);
            if !cases.contains(&case) {
                cases.push(case);
            }
        }
    }
    let mut json = args.json.as_ref().map(|p| {
        std::fs::File::create(p).unwrap_or_else(|e| {
            eprintln!("bench: cannot write {p}: {e}");
            std::process::exit(2)
        })
    });
    let mut emit = |r: &Row| {
        r.print();
        if let Some(f) = json.as_mut() {
            writeln!(f, "{}", r.json()).expect("write json");
        }
    };
    let mut ctx = Context::with_threads(args.threads).expect("thread pool");
    // The portable kernels on the same packed bytes, on every core.
    let mut portable = Context::with_threads(0).expect("thread pool");
    portable.set_isa(Some(Isa::Scalar));
    let start = Instant::now();
    let (mut timed, mut failures) = (0usize, 0usize);
    println!(
        "lutgemm quick bench: best ISA {}, {} thread(s) (0 = all), {:.2} s per row; times are \
         medians, end to end; every row verified first on min(n, {VERIFY_N}) tokens",
        Isa::best(),
        args.threads,
        args.time
    );
    if !explicit_scalar
        && args
            .ns
            .iter()
            .any(|&n| !common::runs_by_default(Isa::Scalar, n))
    {
        println!(
            "scalar kernels skipped at n > {} (give --isa scalar to run them)",
            common::SCALAR_MAX_N
        );
    }
    for &(m, k) in &args.shapes {
        let model = common::SHAPES
            .iter()
            .find(|s| (s.0, s.1) == (m, k))
            .map_or(String::new(), |s| format!(" ({})", s.2));
        println!("\n== {m}x{k}{model}");
        println!("{HEADER}");
        // The dense baseline, once per (shape, n).
        let mut dense_ns: HashMap<usize, f64> = HashMap::new();
        if args.dense {
            let w = common::values(m * k, 42);
            for &n in &args.ns {
                let x = common::values(n * k, 7 + n as u64);
                let mut y = vec![0f32; n * m];
                common::dense_f32(&w, &x, m, k, n, &mut y);
                let verified = verify_dense(&w, &x, &y, m, k, n);
                let ns = verified.is_ok().then(|| {
                    let t = median_time(args.time, || common::dense_f32(&w, &x, m, k, n, &mut y));
                    t.as_secs_f64() * 1e9
                });
                if let Err(e) = &verified {
                    println!("FAIL dense_f32 {m}x{k} n={n}: {e}");
                    failures += 1;
                } else {
                    timed += 1;
                }
                if let Some(t) = ns {
                    dense_ns.insert(n, t);
                }
                emit(&Row {
                    kernel: "dense_f32".into(),
                    isa: "f32",
                    format: "f32",
                    group: 0,
                    group_label: "-".into(),
                    contract: "float",
                    m,
                    k,
                    n,
                    threads: 1,
                    ns,
                    weight_bytes: m * k * 4,
                    vs_mad: None,
                    vs_dense: ns.map(|_| 1.0),
                    selected: false,
                    verified,
                });
            }
        }
        for case in &cases {
            if !case.fits(k) {
                println!(
                    "-- {case}: skipped, group {} does not divide k = {k}",
                    case.group
                );
                continue;
            }
            let weights = case.weights(m, k);
            let w = weights.as_dyn();
            let mut oracle = Oracle::new(w);
            // Exact multiply-add time per (ISA, n), for every contract's rows.
            let mut mad_ns: HashMap<(Isa, usize), f64> = HashMap::new();
            let all_kernels = common::kernels_for(case.format);
            for &contract in &args.contracts {
                let kernels: Vec<_> = all_kernels
                    .iter()
                    .copied()
                    .filter(|kd| {
                        kd.contract == contract
                            && isas.contains(&kd.isa)
                            && args.families.contains(&kd.family())
                    })
                    .collect();
                if kernels.is_empty() {
                    continue;
                }
                println!("-- {case} {contract}");
                let mut packs = Vec::new();
                for kd in kernels {
                    match common::pack_for(w, kd) {
                        Ok(p) => packs.push(p),
                        Err(e) => {
                            println!("FAIL {} {case} {contract} {m}x{k}: {e}", kd.name);
                            failures += 1;
                        }
                    }
                }
                let mut selected = Err(lutgemm::Error::Value("no token count".into()));
                for &n in &args.ns {
                    // Selection depends on the typical token count.
                    selected = PackedWeights::pack(
                        w,
                        &PackOptions {
                            tokens: n,
                            ..PackOptions::with_contract(contract)
                        },
                    );
                    let selected_name = selected.as_ref().ok().map(|p| p.kernel().name);
                    let x = common::values(n * k, 7 + n as u64);
                    let mut y = vec![0f32; n * m];
                    for p in &packs {
                        let kd = p.kernel();
                        if !explicit_scalar && !common::runs_by_default(kd.isa, n) {
                            continue;
                        }
                        let verified = verify(&mut ctx, &mut portable, p, &mut oracle, n);
                        let ns = match &verified {
                            Ok(()) => {
                                let t = median_time(args.time, || {
                                    ctx.matmul(p, &x, n, &mut y).expect("matmul");
                                });
                                timed += 1;
                                Some(t.as_secs_f64() * 1e9)
                            }
                            Err(e) => {
                                println!(
                                    "FAIL {} ({} {} {contract}) {m}x{k} n={n}, verified on {} \
                                     token(s): {e}",
                                    kd.name,
                                    case.format,
                                    group_label(case),
                                    n.min(VERIFY_N)
                                );
                                failures += 1;
                                None
                            }
                        };
                        if let Some(t) = ns {
                            if contract == Contract::Exact
                                && kd.family() == KernelFamily::MultiplyAdd
                            {
                                mad_ns.insert((kd.isa, n), t);
                            }
                        }
                        emit(&Row {
                            kernel: kd.name.to_string(),
                            isa: kd.isa.name(),
                            format: case.format.name(),
                            group: case.group,
                            group_label: group_label(case),
                            contract: contract.name(),
                            m,
                            k,
                            n,
                            threads: args.threads,
                            ns,
                            weight_bytes: p.packed_bytes(),
                            vs_mad: ns.and_then(|t| mad_ns.get(&(kd.isa, n)).map(|b| b / t)),
                            vs_dense: ns.and_then(|t| dense_ns.get(&n).map(|d| d / t)),
                            selected: Some(kd.name) == selected_name,
                            verified,
                        });
                    }
                }
                match selected {
                    Ok(p) => println!(
                        "   selection (n = {}): {}",
                        args.ns[args.ns.len() - 1],
                        p.describe()
                    ),
                    Err(e) => println!("   selection: none: {e}"),
                }
            }
        }
    }
    println!(
        "\n{timed} row(s) verified and timed, {failures} failure(s), {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if failures > 0 {
        eprintln!("bench: {failures} verification failure(s); see the FAIL lines");
        std::process::exit(1);
    }
}
