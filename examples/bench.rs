//! Quick bench: every ternary kernel × ISA on the real shapes, one line per
//! row, with ratios to the multiply-add kernel of the same ISA and to a
//! dense f32 GEMM (matrixmultiply) measured in the same run.
//!
//! ```text
//! cargo run --release --example bench -- [options]
//!   --threads N      threads for lutgemm (default 1; 0 = all cores)
//!   --shapes LIST    m×k list, e.g. 4096x4096,2560x6912 (default: DESIGN.md §1)
//!   --n LIST         token counts (default 1,8,256)
//!   --isa LIST       scalar,avx2,avx512 (default: every available ISA)
//!   --kernel LIST    mad,lut2,lut4 (default: all)
//!   --time SECS      measuring time per row (default 0.25)
//!   --json PATH      also write one JSON object per row to PATH
//!   --no-dense       skip the dense f32 baseline
//! ```
//! Scalar kernels are skipped at n > 8 unless `--isa scalar` is given
//! explicitly (a single such call takes seconds). Times are end to end:
//! activation quantization and table building are included.

#[path = "../benches/common/mod.rs"]
mod common;

use lutgemm::{Context, Isa, KernelFamily, PackOptions, PackedTernary, kernels};
use std::io::Write;
use std::time::{Duration, Instant};

struct Args {
    threads: usize,
    shapes: Vec<(usize, usize)>,
    ns: Vec<usize>,
    isas: Option<Vec<Isa>>,
    families: Vec<KernelFamily>,
    time: f64,
    json: Option<String>,
    dense: bool,
}

fn parse_list<T>(s: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    s.split(',')
        .map(|p| f(p.trim()).ok_or_else(|| format!("cannot parse {p:?}")))
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        threads: 1,
        shapes: common::SHAPES.iter().map(|&(m, k, _)| (m, k)).collect(),
        ns: common::NS.to_vec(),
        isas: None,
        families: KernelFamily::ALL.to_vec(),
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
                a.shapes = parse_list(&val()?, |s| {
                    let (m, k) = s.split_once(['x', '×'])?;
                    Some((m.parse().ok()?, k.parse().ok()?))
                })?
            }
            "--n" => a.ns = parse_list(&val()?, |s| s.parse().ok())?,
            "--isa" => a.isas = Some(parse_list(&val()?, |s| Isa::from_name(s).ok())?),
            "--kernel" => a.families = parse_list(&val()?, KernelFamily::from_name)?,
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

struct Row {
    kernel: String,
    isa: String,
    contract: &'static str,
    m: usize,
    k: usize,
    n: usize,
    threads: usize,
    ns: f64,
    weight_bytes: usize,
    selected: bool,
}

impl Row {
    fn gops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64 / self.ns
    }
    fn weight_gbps(&self) -> f64 {
        self.weight_bytes as f64 / self.ns
    }
    fn json(&self, vs_mad: Option<f64>, vs_dense: Option<f64>) -> String {
        let opt = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.4}"));
        format!(
            "{{\"format\":\"ternary\",\"contract\":\"{}\",\"kernel\":\"{}\",\"isa\":\"{}\",\"m\":{},\"k\":{},\"n\":{},\"threads\":{},\"median_ns\":{:.0},\"gops\":{:.3},\"weight_gbps\":{:.3},\"weight_bytes\":{},\"speedup_vs_mad\":{},\"speedup_vs_dense_f32\":{},\"selected\":{}}}",
            self.contract,
            self.kernel,
            self.isa,
            self.m,
            self.k,
            self.n,
            self.threads,
            self.ns,
            self.gops(),
            self.weight_gbps(),
            self.weight_bytes,
            opt(vs_mad),
            opt(vs_dense),
            self.selected
        )
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
    let mut json = args.json.as_ref().map(|p| {
        std::fs::File::create(p).unwrap_or_else(|e| {
            eprintln!("bench: cannot write {p}: {e}");
            std::process::exit(2)
        })
    });
    let mut ctx = Context::with_threads(args.threads).expect("thread pool");
    println!(
        "lutgemm quick bench: best ISA {}, {} thread(s) (0 = all), {:.2} s per row; times are medians, end to end",
        Isa::best(),
        args.threads,
        args.time
    );
    println!(
        "{:<13} {:<7} {:>6} {:>6} {:>4} {:>11} {:>9} {:>9} {:>8} {:>9}",
        "kernel", "isa", "m", "k", "n", "median_us", "GOP/s", "wGB/s", "vs_mad", "vs_dense"
    );
    for &(m, k) in &args.shapes {
        let tern = common::ternary(m, k);
        let selected = PackedTernary::pack(&tern, &PackOptions::default()).ok();
        let selected_name = selected.as_ref().map(|p| p.kernel().name);
        let packs: Vec<PackedTernary> = kernels::available()
            .filter(|kd| {
                isas.contains(&kd.isa)
                    && args.families.contains(&kd.family())
                    && kd.supports(lutgemm::Format::Ternary)
                    && kd.contract == lutgemm::Contract::Exact
            })
            .map(|kd| {
                PackedTernary::pack(
                    &tern,
                    &PackOptions {
                        family: Some(kd.family()),
                        isa: Some(kd.isa),
                        ..PackOptions::default()
                    },
                )
                .expect("available kernel packs")
            })
            .collect();
        let dense_w = args.dense.then(|| tern.dequantize());
        for &n in &args.ns {
            let x = common::values(n * k, 7 + n as u64);
            let mut y = vec![0f32; n * m];
            let dense_ns = dense_w.as_ref().map(|w| {
                let t = median_time(args.time, || common::dense_f32(w, &x, m, k, n, &mut y));
                t.as_secs_f64() * 1e9
            });
            let mut rows = Vec::new();
            for p in &packs {
                let kd = p.kernel();
                if kd.isa == Isa::Scalar && n > 8 && !explicit_scalar {
                    continue;
                }
                let t = median_time(args.time, || {
                    ctx.matmul(p, &x, n, &mut y).expect("matmul");
                });
                rows.push(Row {
                    kernel: kd.name.to_string(),
                    isa: kd.isa.name().to_string(),
                    contract: "exact",
                    m,
                    k,
                    n,
                    threads: args.threads,
                    ns: t.as_secs_f64() * 1e9,
                    weight_bytes: p.packed_bytes(),
                    selected: Some(kd.name) == selected_name,
                });
            }
            if let Some(d) = dense_ns {
                let r = Row {
                    kernel: "dense_f32".into(),
                    isa: "f32".into(),
                    contract: "float",
                    m,
                    k,
                    n,
                    threads: 1,
                    ns: d,
                    weight_bytes: m * k * 4,
                    selected: false,
                };
                println!(
                    "{:<13} {:<7} {:>6} {:>6} {:>4} {:>11.1} {:>9.1} {:>9.2} {:>8} {:>9}",
                    r.kernel,
                    "f32",
                    m,
                    k,
                    n,
                    d / 1e3,
                    r.gops(),
                    r.weight_gbps(),
                    "",
                    "1.00"
                );
                if let Some(f) = json.as_mut() {
                    writeln!(f, "{}", r.json(None, Some(1.0))).expect("write json");
                }
            }
            for r in &rows {
                let mad = rows
                    .iter()
                    .find(|o| o.isa == r.isa && o.kernel.starts_with("mad"))
                    .map(|o| o.ns / r.ns);
                let vs_dense = dense_ns.map(|d| d / r.ns);
                let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}x"));
                println!(
                    "{:<13} {:<7} {:>6} {:>6} {:>4} {:>11.1} {:>9.1} {:>9.2} {:>8} {:>9}{}",
                    r.kernel,
                    r.isa,
                    m,
                    k,
                    n,
                    r.ns / 1e3,
                    r.gops(),
                    r.weight_gbps(),
                    fmt(mad),
                    fmt(vs_dense),
                    if r.selected { "  <- selected" } else { "" }
                );
                if let Some(f) = json.as_mut() {
                    writeln!(f, "{}", r.json(mad, vs_dense)).expect("write json");
                }
            }
        }
        if let Some(p) = selected {
            println!("  selection: {}", p.describe());
        }
    }
}
