//! `LUTGEMM_ISA` forces the ISA process-wide (read once), so each case runs
//! in a child process of this test binary.

use lutgemm::{Context, Error, Isa, PackOptions, PackedTernary, ScaleGranularity, TernaryMatrix};
use std::process::Command;

const EXPECT: &str = "LUTGEMM_ENV_TEST_EXPECT";

fn child(expect: &str) {
    let w =
        TernaryMatrix::new(8, 64, vec![1; 512], vec![0.5], ScaleGranularity::PerTensor).unwrap();
    match PackedTernary::pack(&w, &PackOptions::default()) {
        Ok(p) => {
            // The forced level or one it includes (i8mm runs the dotprod
            // kernel where it has none of its own).
            let forced = Isa::from_name(expect).unwrap();
            assert!(
                forced.with_included().contains(&p.kernel().isa),
                "LUTGEMM_ISA={expect}: {}",
                p.describe()
            );
            let mut y = vec![0f32; 8];
            Context::new().matmul(&p, &[1f32; 64], 1, &mut y).unwrap();
            assert!(y.iter().all(|&v| (v - 32.0).abs() < 1e-4), "{y:?}");
        }
        Err(e) => {
            assert_eq!(expect, "error", "unexpected error: {e}");
            assert!(matches!(e, Error::Unavailable(_)), "{e}");
        }
    }
}

#[test]
fn lutgemm_isa_env_forces_the_isa() {
    if let Ok(expect) = std::env::var(EXPECT) {
        child(&expect);
        return;
    }
    let mut cases = vec![
        ("scalar", "scalar".to_string()),
        ("SCALAR", "scalar".to_string()),
        ("neon9000", "error".to_string()),
        ("", Isa::best().name().to_string()),
    ];
    for isa in [Isa::Avx2, Isa::Avx512, Isa::Neon, Isa::Dotprod, Isa::I8mm] {
        let expect = if isa.is_available() {
            isa.name()
        } else {
            "error"
        };
        cases.push((isa.name(), expect.to_string()));
    }
    for (value, expect) in cases {
        let out = self_command()
            .args(["--exact", "lutgemm_isa_env_forces_the_isa", "--nocapture"])
            .env("LUTGEMM_ISA", value)
            .env(EXPECT, &expect)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "LUTGEMM_ISA={value:?} (expected {expect}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// This test binary as a command; under emulation (`LUTGEMM_TEST_RUNNER`,
/// e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`, set by .ci/run) through
/// the runner, since the host cannot execute it directly.
fn self_command() -> Command {
    let exe = std::env::current_exe().unwrap();
    match std::env::var("LUTGEMM_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut parts = runner.split_whitespace();
            let mut c = Command::new(parts.next().unwrap());
            c.args(parts).arg(exe);
            c
        }
        _ => Command::new(exe),
    }
}
