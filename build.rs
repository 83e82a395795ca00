//! Builds the per-ISA C kernels in `kernels/`.
//!
//! Each ISA level is its own `cc::Build` with its own flags, so an object
//! built for AVX-512 never leaks AVX-512 instructions into code that runs on
//! an AVX2-only CPU; which one runs is decided at run time (`src/isa.rs`).
//! Never `-march=native`: the library must run on any CPU of the target arch.
//!
//! For every ISA object built, a `lutgemm_<isa>` cfg is emitted. An ISA the C
//! compiler cannot build is skipped with a warning, or fails the build when
//! `LUTGEMM_CI=1` (CI must test every kernel). The `pure` feature builds no C.

use std::env;
use std::path::Path;

struct IsaObject {
    /// cfg name emitted when built, also the library name.
    cfg: &'static str,
    /// Source files under `kernels/`, all built with this ISA's flags.
    sources: &'static [&'static str],
    /// Compiler flags this object needs (GCC/Clang spelling).
    flags: &'static [&'static str],
}

const X86_OBJECTS: &[IsaObject] = &[
    IsaObject {
        cfg: "lutgemm_avx2",
        sources: &[
            "kernels/x86/avx2.c",
            "kernels/x86/avx2_int.c",
            "kernels/x86/avx2_veclut.c",
            "kernels/x86/avx2_mad5.c",
        ],
        flags: &["-mavx2", "-mfma", "-mf16c", "-mbmi2"],
    },
    IsaObject {
        cfg: "lutgemm_avx512",
        sources: &[
            "kernels/x86/avx512.c",
            "kernels/x86/avx512_int.c",
            "kernels/x86/avx512_veclut.c",
            "kernels/x86/avx512_mad5.c",
        ],
        flags: &[
            "-mavx2",
            "-mfma",
            "-mf16c",
            "-mbmi2",
            "-mavx512f",
            "-mavx512bw",
            "-mavx512vl",
            "-mavx512dq",
            "-mavx512vbmi",
            "-mavx512vnni",
        ],
    },
];

/// aarch64 levels. NEON is the baseline of every aarch64 target; dotprod
/// and i8mm objects are built for their architecture extension and only
/// run where `is_aarch64_feature_detected!` says so.
const AARCH64_OBJECTS: &[IsaObject] = &[
    IsaObject {
        cfg: "lutgemm_neon",
        sources: &[
            "kernels/arm/neon.c",
            "kernels/arm/neon_veclut.c",
            "kernels/arm/neon_mad5.c",
        ],
        flags: &["-march=armv8-a"],
    },
    IsaObject {
        cfg: "lutgemm_dotprod",
        sources: &["kernels/arm/dotprod.c", "kernels/arm/dotprod_mad5.c"],
        flags: &["-march=armv8.2-a+dotprod"],
    },
    IsaObject {
        cfg: "lutgemm_i8mm",
        sources: &["kernels/arm/i8mm.c"],
        flags: &["-march=armv8.6-a+i8mm"],
    },
];

fn main() {
    for obj in X86_OBJECTS.iter().chain(AARCH64_OBJECTS) {
        println!("cargo::rustc-check-cfg=cfg({})", obj.cfg);
    }
    println!("cargo::rerun-if-changed=kernels");
    println!("cargo::rerun-if-env-changed=LUTGEMM_CI");
    println!("cargo::rerun-if-env-changed=CC");
    println!("cargo::rerun-if-env-changed=CFLAGS");

    if env::var_os("CARGO_FEATURE_PURE").is_some() {
        return;
    }
    let strict = env::var("LUTGEMM_CI").is_ok_and(|v| v == "1");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let objects: &[IsaObject] = match arch.as_str() {
        "x86_64" => X86_OBJECTS,
        "aarch64" => AARCH64_OBJECTS,
        _ => &[],
    };

    for obj in objects {
        match build_object(obj) {
            Ok(()) => println!("cargo::rustc-cfg={}", obj.cfg),
            Err(why) => {
                if strict {
                    panic!("LUTGEMM_CI=1: cannot build {}: {why}", obj.cfg);
                }
                println!(
                    "cargo::warning=lutgemm: skipping {} ({why}); those kernels are not available",
                    obj.cfg
                );
            }
        }
    }
}

fn build_object(obj: &IsaObject) -> Result<(), String> {
    let mut build = cc::Build::new();
    build
        .files(obj.sources)
        .include("kernels")
        .std("c11")
        .opt_level(3)
        // Kernels must round exactly like the portable Rust code: no
        // contraction of a*b+c into FMA behind our back.
        .flag("-ffp-contract=off")
        .flag("-fno-strict-aliasing")
        .warnings(true)
        .extra_warnings(true);
    for flag in obj.flags {
        match build.is_flag_supported(flag) {
            Ok(true) => {
                build.flag(flag);
            }
            Ok(false) => return Err(format!("the C compiler does not accept {flag}")),
            Err(e) => return Err(format!("cannot probe the C compiler: {e}")),
        }
    }
    if let Some(missing) = obj.sources.iter().find(|s| !Path::new(s).exists()) {
        return Err(format!("source file {missing} missing"));
    }
    build.try_compile(obj.cfg).map_err(|e| e.to_string())
}
