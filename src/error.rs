//! The crate's error type: every bad input is an `Err` with a message that
//! names the offending value, never a panic or UB.

use std::fmt;

/// Errors returned by lutgemm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A shape or dimension is invalid (zero, overflowing, or inconsistent).
    Shape(String),
    /// A slice has the wrong length for the stated shape.
    Length {
        /// Which argument.
        what: &'static str,
        /// Length the shape requires.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A value is outside the domain of the format (e.g. a ternary code of 2,
    /// a NaN scale, an int8 activation of −128).
    Value(String),
    /// Activations contain NaN or ±Inf (policy: rejected, see crate docs).
    NonFinite {
        /// Token (row of `X`) holding the first non-finite value.
        token: usize,
        /// Position within the token.
        index: usize,
    },
    /// The requested ISA or kernel is not compiled in or not supported by
    /// this CPU.
    Unavailable(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(s) => write!(f, "invalid shape: {s}"),
            Error::Length {
                what,
                expected,
                got,
            } => write!(
                f,
                "wrong length for {what}: expected {expected} elements, got {got}"
            ),
            Error::Value(s) => write!(f, "invalid value: {s}"),
            Error::NonFinite { token, index } => write!(
                f,
                "activation is NaN or infinite at token {token}, index {index} \
                 (non-finite activations are rejected)"
            ),
            Error::Unavailable(s) => write!(f, "unavailable: {s}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Length {
            what,
            expected,
            got,
        })
    }
}
