//! Instruction-set levels: what is compiled in, what this CPU has, and which
//! one runs.
//!
//! The best ISA that is both compiled in (see `build.rs`) and detected at run
//! time is chosen once and cached. `LUTGEMM_ISA=scalar|avx2|avx512|neon|dotprod|i8mm` overrides
//! that choice for the whole process (tests, benches, bug reports); naming an
//! ISA that is not available makes packing fail with [`Error::Unavailable`]
//! instead of silently running something else. [`crate::PackOptions::isa`]
//! and [`crate::Context::set_isa`] force one per matrix or per context.

use crate::error::{Error, Result};
use std::fmt;
use std::sync::OnceLock;

/// An instruction-set level with its own kernels. Each level names the CPU
/// features it requires; [`Isa::is_detected`] checks all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Isa {
    /// Portable Rust kernels; always available, on every target.
    Scalar,
    /// x86-64: AVX2 + FMA + F16C + BMI2 (`vpshufb`, `vpmaddubsw`).
    Avx2,
    /// x86-64: `avx512` means AVX-512 F + BW + VL + DQ + VBMI + VNNI, plus
    /// everything [`Isa::Avx2`] needs (`vpermi2b`, `vpdpbusd`).
    Avx512,
    /// aarch64: Armv8-A Advanced SIMD (`tbl`, widening multiply-adds).
    Neon,
    /// aarch64: NEON + the dot-product extension (`sdot`/`udot`, Armv8.2).
    Dotprod,
    /// aarch64: dotprod + the int8 matrix-multiply extension
    /// (`smmla`/`usmmla`, Armv8.6).
    I8mm,
}

impl Isa {
    /// Every ISA level, slowest first.
    pub const ALL: [Isa; 6] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::Avx512,
        Isa::Neon,
        Isa::Dotprod,
        Isa::I8mm,
    ];

    /// The name used by `LUTGEMM_ISA` and in descriptions.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
            Isa::Dotprod => "dotprod",
            Isa::I8mm => "i8mm",
        }
    }

    /// Parses a `LUTGEMM_ISA` value.
    pub fn from_name(name: &str) -> Result<Isa> {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                Error::Unavailable(format!(
                    "unknown ISA {name:?}; expected one of scalar, avx2, avx512, neon, dotprod, i8mm"
                ))
            })
    }

    /// Whether this ISA's kernels were compiled into this build.
    pub fn is_compiled(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => cfg!(lutgemm_avx2),
            Isa::Avx512 => cfg!(lutgemm_avx512),
            Isa::Neon => cfg!(lutgemm_neon),
            Isa::Dotprod => cfg!(lutgemm_dotprod),
            Isa::I8mm => cfg!(lutgemm_i8mm),
        }
    }

    /// Whether this CPU supports the instructions this ISA's kernels use.
    pub fn is_detected(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
                    && std::arch::is_x86_feature_detected!("bmi2")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_detected()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vbmi")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Isa::Dotprod => {
                Isa::Neon.is_detected() && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::I8mm => {
                Isa::Dotprod.is_detected() && std::arch::is_aarch64_feature_detected!("i8mm")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The target architecture this level belongs to (`None`: portable).
    pub fn arch(self) -> Option<&'static str> {
        match self {
            Isa::Scalar => None,
            Isa::Avx2 | Isa::Avx512 => Some("x86_64"),
            Isa::Neon | Isa::Dotprod | Isa::I8mm => Some("aarch64"),
        }
    }

    /// This level and the lower levels of its architecture it includes,
    /// best first: a level without a kernel of its own for some case runs
    /// the best included one (i8mm → dotprod → neon, avx512 → avx2).
    pub fn with_included(self) -> &'static [Isa] {
        match self {
            Isa::Scalar => &[Isa::Scalar],
            Isa::Avx2 => &[Isa::Avx2],
            Isa::Avx512 => &[Isa::Avx512, Isa::Avx2],
            Isa::Neon => &[Isa::Neon],
            Isa::Dotprod => &[Isa::Dotprod, Isa::Neon],
            Isa::I8mm => &[Isa::I8mm, Isa::Dotprod, Isa::Neon],
        }
    }

    /// Whether this level includes AVX2 (the activation quantizer's SIMD
    /// build uses it).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn has_avx2(self) -> bool {
        matches!(self, Isa::Avx2 | Isa::Avx512)
    }

    /// Compiled in and supported by this CPU.
    pub fn is_available(self) -> bool {
        self.is_compiled() && self.is_detected()
    }

    /// Every ISA usable here, slowest first (always starts with `Scalar`).
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// The best available ISA, ignoring `LUTGEMM_ISA`. Cached.
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            Isa::ALL
                .into_iter()
                .rev()
                .find(|i| i.is_available())
                .unwrap_or(Isa::Scalar)
        })
    }

    /// The ISA used when none is forced: `LUTGEMM_ISA` if set, else
    /// [`Isa::best`]. Errors if `LUTGEMM_ISA` names an unknown or unavailable
    /// ISA. Read once and cached.
    pub fn default_isa() -> Result<Isa> {
        static DEFAULT: OnceLock<Result<Isa>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| match std::env::var("LUTGEMM_ISA") {
                Ok(v) if !v.trim().is_empty() => Isa::from_name(&v)?.require(),
                _ => Ok(Isa::best()),
            })
            .clone()
    }

    /// `Ok(self)` if available, else an error saying why not.
    pub fn require(self) -> Result<Isa> {
        if !self.is_compiled() {
            Err(Error::Unavailable(format!(
                "ISA {} is not compiled into this build (see build warnings, or the `pure` feature)",
                self.name()
            )))
        } else if !self.is_detected() {
            Err(Error::Unavailable(format!(
                "ISA {} is not supported by this CPU",
                self.name()
            )))
        } else {
            Ok(self)
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(Isa::from_name(isa.name()).unwrap(), isa);
        }
        assert!(Isa::from_name("neon9000").is_err());
    }

    #[test]
    fn scalar_always_available_and_best_is_available() {
        assert!(Isa::Scalar.is_available());
        assert!(Isa::best().is_available());
        assert_eq!(Isa::available()[0], Isa::Scalar);
    }
}
