//! Quick bench and verification: every kernel × ISA of every (format,
//! group, contract) case on the real shapes, one line per row, with ratios
//! to the multiply-add kernel of the same ISA, to a dense f32 GEMM
//! (matrixmultiply) and to the machine's own limits, all measured in the
//! same run.
//!
//! ```text
//! cargo run --release --example bench -- [options]
//!   --threads N      threads for lutgemm (default 1; 0 = all cores)
//!   --shapes LIST    m×k list, e.g. 4096x4096,2560x6912 (default: DESIGN.md §1)
//!   --n LIST         token counts (default 1,8,256; with --model 1,256)
//!   --isa LIST       scalar,avx2,avx512 (default: every available ISA)
//!   --kernel LIST    kernel families mad,mad5,lut_g2,lut_g4,bitlut_g4,veclut_g4,
//!                    veclut_int
//!                    (default: all)
//!   --format LIST    ternary,int1,int2,int3,int4 (default: ternary,int2,int4)
//!   --group LIST     scale group lengths along k, 0 = whole row (ternary: one
//!                    scale per tensor); default per format: ternary 0,
//!                    int2 64, int4 32 and 128, int1/int3 64
//!   --contract LIST  exact,fast,float (default: all; with --model exact)
//!   --scales LIST    f16,f32: integer scales and offsets as f16 values
//!                    (GGUF style, default) or f32 (group label `<g>/f32`)
//!   --quantizer LIST asym,sym: integer weights quantized with a scale and
//!                    an offset per group (Q4_1 style, default) or
//!                    symmetric (Q4_0 style: the offsets are a zero point
//!                    the kernels fold into the sums; label `<g>/sym`)
//!   --time SECS      measuring time per row (default 0.25)
//!   --json PATH      also write one JSON object per row to PATH
//!   --no-dense       skip the dense f32 baseline
//!   --limits-only    measure and print the machine limits, then stop
//!   --no-limits      do not measure them (rows show no limit)
//!   --plot FILE      write a roofline chart of every timed row (.svg)
//!   --model NAME     bitnet-2b, bitnet-3b or llama3-8b: one transformer
//!                    block's linear layers at their real shapes (model.rs)
//! ```
//!
//! Scalar kernels are skipped at n > 8 unless `--isa scalar` is given
//! explicitly (a single such call takes seconds). Times are end to end:
//! activation quantization and table building are included. A group that
//! does not divide k skips its case for that shape.
//!
//! # Machine limits and each row's roofline
//!
//! Before the rows, the bench measures (limits.rs, about a second, best of
//! 5 short runs each since the machine may be shared), on one thread and on
//! all: the read bandwidth of an L2-, an L3- and a DRAM-sized buffer; per
//! ISA level, the int8 multiply-add peak (`vpdpbusd` zmm; AVX2
//! `vpmaddubsw` + `vpmaddwd` + `vpaddd` per 32 MACs; NEON `smull` +
//! `smlal2` + `sadalp`, `sdot`, `smmla`) in GOP/s = 2 · MAC/s, and the
//! byte-shuffle peak (`vpermb` zmm, `vpshufb` ymm, `tbl`) in byte lookups/s;
//! and the f32 FMA peak of the dense baseline's ISA.
//!
//! Each row then gets a roofline. It does `ops = 2·m·n·k` and moves at
//! least `bytes = packed weights + 4·n·k (f32 activations) + 4·n·m (f32
//! results)`. Its packed weights, re-read by every timed call, stay in L2
//! if each thread's share fits in L2, in L3 if they fit in half of L3,
//! else come from DRAM: that level's measured bandwidth (at the row's
//! thread count) gives the memory bound `bandwidth · ops / bytes`. (A
//! matrix a little larger than a level still hits it in part, so such a
//! row can read faster than the level below and show more than 100%.) The compute bound is
//! the int8 multiply-add peak of the row's ISA for multiply-add kernels,
//! the byte-shuffle peak × ops per byte lookup for table kernels
//! (`2·g / (planes · entry bytes)`: g = 2 or 4 weights per lookup, one
//! lookup per bit plane for bit-serial tables, Exact entries are int16
//! looked up as two bytes, Fast int8, Float f32), twice the multiply-add
//! peak for the vector-LUT (one 64-byte table-row add per cycle, 128 MACs
//! against a `vpdpbusd`'s 64), and the f32 FMA peak for the dense
//! baseline. Scalar (portable) rows use the best measured ISA's
//! peaks. The attainable rate is the smaller bound; `limit` names it (`L2`,
//! `L3`, `DRAM`, `mad`, `shuf`, `vlut`, `fma`) and `%lim` is the row's GOP/s over
//! it (its time over the floor the limit sets). `%mad` is the row's GOP/s
//! over the multiply-add peak of its ISA (at n = 1 the time of
//! `m·k/64` `vpdpbusd` at the measured rate over the row's time), for
//! every row: a table kernel above 100% is past the multiply-add roofline.
//! `--json` rows carry the same as `bytes`, `intensity`, `limit`,
//! `limit_gops`, `fraction_of_limit`, `mad_peak_gops` and
//! `fraction_of_mad_peak`. `--plot FILE` draws all of it (plot.rs).
//!
//! # Verification
//!
//! Every row is verified before it is timed, on its own m × k and
//! n' = min(n, 2) tokens (with `--model`, each distinct shape and kernel
//! once, on 2 tokens):
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

#[path = "../../benches/common/mod.rs"]
mod common;
mod limits;
mod measure;
mod model;
mod peaks;
mod plot;
mod report;
mod verify;

use common::Case;
use limits::{Limits, Work};
use lutgemm::{Context, Contract, Format, Isa, KernelFamily, PackOptions, PackedWeights};
use report::{HEADER, Output, Row};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use verify::{Oracle, VERIFY_N, verify, verify_dense};

struct Args {
    threads: usize,
    shapes: Vec<(usize, usize)>,
    ns: Vec<usize>,
    isas: Option<Vec<Isa>>,
    families: Vec<KernelFamily>,
    formats: Vec<Format>,
    groups: Option<Vec<usize>>,
    contracts: Vec<Contract>,
    /// Integer weights with f32 scales (`--scales f32`) and/or f16 ones.
    f32_scales: Vec<bool>,
    /// Symmetric integer weights (`--quantizer sym`) and/or asymmetric.
    symmetric: Vec<bool>,
    time: f64,
    json: Option<String>,
    dense: bool,
    /// Whether `--n` was given (`--model` defaults to 1,256).
    ns_given: bool,
    /// Whether `--contract` was given (`--model` defaults to exact).
    contracts_given: bool,
    limits: bool,
    limits_only: bool,
    plot: Option<String>,
    model: Option<&'static model::Model>,
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
        f32_scales: vec![false],
        symmetric: vec![false],
        time: 0.25,
        json: None,
        dense: true,
        ns_given: false,
        contracts_given: false,
        limits: true,
        limits_only: false,
        plot: None,
        model: None,
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
            "--n" => {
                a.ns = parse_list(&flag, &val()?, |s| s.parse().ok().filter(|&n| n > 0))?;
                a.ns_given = true;
            }
            "--isa" => a.isas = Some(parse_list(&flag, &val()?, |s| Isa::from_name(s).ok())?),
            "--kernel" => a.families = parse_list(&flag, &val()?, parse_family)?,
            "--format" => a.formats = parse_list(&flag, &val()?, Format::from_name)?,
            "--group" => a.groups = Some(parse_list(&flag, &val()?, |s| s.parse().ok())?),
            "--contract" => {
                a.contracts = parse_list(&flag, &val()?, Contract::from_name)?;
                a.contracts_given = true;
            }
            "--scales" => {
                a.f32_scales = parse_list(&flag, &val()?, |s| match s {
                    "f16" => Some(false),
                    "f32" => Some(true),
                    _ => None,
                })?
            }
            "--quantizer" => {
                a.symmetric = parse_list(&flag, &val()?, |s| match s {
                    "asym" => Some(false),
                    "sym" => Some(true),
                    _ => None,
                })?
            }
            "--time" => a.time = val()?.parse().map_err(|e| format!("--time: {e}"))?,
            "--json" => a.json = Some(val()?),
            "--no-dense" => a.dense = false,
            "--limits-only" => a.limits_only = true,
            "--no-limits" => a.limits = false,
            "--plot" => {
                let path = val()?;
                plot::check_path(&path)?;
                a.plot = Some(path);
            }
            "--model" => {
                let name = val()?;
                a.model = Some(model::find(&name).ok_or_else(|| {
                    format!(
                        "--model: unknown model {name:?}; expected {}",
                        model::names()
                    )
                })?);
            }
            "--help" | "-h" => {
                println!("see the doc comment of examples/bench/main.rs for options");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.limits_only && !a.limits {
        return Err("--limits-only and --no-limits exclude each other".into());
    }
    if a.model.is_some() && !a.ns_given {
        a.ns = model::NS.to_vec();
    }
    if a.model.is_some() && !a.contracts_given {
        a.contracts = vec![Contract::Exact];
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

fn group_label(case: &Case) -> String {
    let mut label = match (case.format, case.group) {
        (Format::Ternary, 0) => "tensor".to_string(),
        (_, 0) => "row".to_string(),
        (_, g) => g.to_string(),
    };
    if case.f32_scales {
        label += "/f32";
    }
    if case.symmetric {
        label += "/sym";
    }
    label
}

/// The rows of every kernel on every shape of `--shapes`.
fn run_shapes(
    args: &Args,
    isas: &[Isa],
    explicit_scalar: bool,
    ctx: &mut Context,
    portable: &mut Context,
    out: &mut Output,
) {
    let mut cases: Vec<Case> = Vec::new();
    for &format in &args.formats {
        let groups = args
            .groups
            .clone()
            .unwrap_or_else(|| common::default_groups(format));
        for g in groups {
            for &f32_scales in &args.f32_scales {
                for &symmetric in &args.symmetric {
                    let mut case = Case::new(format, g);
                    if f32_scales && format != Format::Ternary {
                        case = case.with_f32_scales();
                    }
                    if symmetric && format != Format::Ternary {
                        case = case.with_symmetric();
                    }
                    if !cases.contains(&case) {
                        cases.push(case);
                    }
                }
            }
        }
    }
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
                let row = dense_row(&w, m, k, n, args.time);
                if let Some(t) = row.ns {
                    dense_ns.insert(n, t);
                }
                out.emit(row);
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
                            out.fail();
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
                        let verified = verify(ctx, portable, p, &mut oracle, n);
                        let ns = match &verified {
                            Ok(()) => {
                                let t = median_time(args.time, || {
                                    ctx.matmul(p, &x, n, &mut y).expect("matmul");
                                });
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
                        out.emit(Row {
                            vs_mad: ns.and_then(|t| mad_ns.get(&(kd.isa, n)).map(|b| b / t)),
                            vs_dense: ns.and_then(|t| dense_ns.get(&n).map(|d| d / t)),
                            selected: Some(kd.name) == selected_name,
                            ..kernel_row(p, case, n, args.threads, ns, verified)
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
}

/// Verifies, then times the dense f32 baseline on `w` (m × k) at `n`
/// tokens (one thread); prints a `FAIL` line if verification fails.
fn dense_row(w: &[f32], m: usize, k: usize, n: usize, time: f64) -> Row {
    let x = common::values(n * k, 7 + n as u64);
    let mut y = vec![0f32; n * m];
    common::dense_f32(w, &x, m, k, n, &mut y);
    let verified = verify_dense(w, &x, &y, m, k, n);
    let ns = verified.is_ok().then(|| {
        let t = median_time(time, || common::dense_f32(w, &x, m, k, n, &mut y));
        t.as_secs_f64() * 1e9
    });
    if let Err(e) = &verified {
        println!("FAIL dense_f32 {m}x{k} n={n}: {e}");
    }
    Row {
        kernel: "dense_f32".into(),
        family: "dense",
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
        work: Some(Work::DenseF32),
        limits_isa: Isa::Scalar,
        bound: None,
        layer: None,
    }
}

/// The row of packed weights `p` (of `case`) at `n` tokens on `threads`
/// threads, with no ratios yet.
fn kernel_row(
    p: &PackedWeights,
    case: &Case,
    n: usize,
    threads: usize,
    ns: Option<f64>,
    verified: Result<(), String>,
) -> Row {
    let kd = p.kernel();
    Row {
        kernel: kd.name.to_string(),
        family: kd.family().name(),
        isa: kd.isa.name(),
        format: case.format.name(),
        group: case.group,
        group_label: group_label(case),
        contract: p.contract().name(),
        m: p.m(),
        k: p.k(),
        n,
        threads,
        ns,
        weight_bytes: p.packed_bytes(),
        vs_mad: None,
        vs_dense: None,
        selected: false,
        verified,
        work: limits::work_of(kd, case.format),
        limits_isa: kd.isa,
        bound: None,
        layer: None,
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
    let limits = args.limits.then(Limits::measure);
    if let Some(l) = &limits {
        l.print();
    }
    if args.limits_only {
        return;
    }
    let explicit_scalar = args.isas.as_ref().is_some_and(|v| v.contains(&Isa::Scalar));
    let isas: Vec<Isa> = args.isas.clone().unwrap_or_else(Isa::available);
    for isa in &isas {
        if let Err(e) = isa.require() {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    }
    let mut out = Output::new(args.json.as_deref(), limits, args.plot.is_some());
    let mut ctx = Context::with_threads(args.threads).expect("thread pool");
    // The portable kernels on the same packed bytes, on every core.
    let mut portable = Context::with_threads(0).expect("thread pool");
    portable.set_isa(Some(Isa::Scalar));
    let start = Instant::now();
    println!(
        "\nlutgemm quick bench: best ISA {}, {} thread(s) (0 = all), {:.2} s per row; times are \
         medians, end to end; every row verified first on min(n, {VERIFY_N}) tokens",
        Isa::best(),
        args.threads,
        args.time
    );
    match args.model {
        Some(model) => model::run(&args, model, &mut ctx, &mut portable, &mut out),
        None => run_shapes(
            &args,
            &isas,
            explicit_scalar,
            &mut ctx,
            &mut portable,
            &mut out,
        ),
    }
    let (timed, failures) = (out.timed, out.failures);
    if let Some(path) = &args.plot {
        match plot::write(path, &out.plotted, out.limits.as_ref(), args.threads) {
            Ok(()) => println!(
                "\nroofline chart of {} row(s) written to {path}",
                out.plotted.len()
            ),
            Err(e) => {
                eprintln!("bench: cannot write the chart {path}: {e}");
                std::process::exit(2);
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
