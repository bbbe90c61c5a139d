//! One error type for the whole crate and its single mapping onto the Python
//! exception classes of `prover.proofs.errors` (in `bindings`).
//!
//! Callers in Python catch the kind they care about (a faulty sector is
//! skipped, missing parameters stop the worker, bad input is a caller bug),
//! so every failure is classified here rather than surfacing as a string.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, UnwindSafe};
use std::path::PathBuf;

#[derive(Debug)]
pub enum CoreError {
    /// The caller passed something the library must never see.
    InvalidInput(String),
    /// One sector's files cannot be proven: missing, truncated or corrupt.
    SectorFault { sector_id: u64, reason: String },
    /// A Groth16 parameter or verifying key file is not in the cache.
    ParametersMissing { path: PathBuf, dir: PathBuf },
    /// Anything else the proofs library reported.
    Proof(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        CoreError::InvalidInput(msg.into())
    }

    pub fn fault(sector_id: u64, reason: impl Into<String>) -> Self {
        CoreError::SectorFault {
            sector_id,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::InvalidInput(m) | CoreError::Proof(m) => f.write_str(m),
            CoreError::SectorFault { sector_id, reason } => {
                write!(f, "sector {sector_id} is faulty: {reason}")
            }
            CoreError::ParametersMissing { path, dir } => write!(
                f,
                "parameter file {} not found (searched {})",
                path.display(),
                dir.display()
            ),
        }
    }
}

impl std::error::Error for CoreError {}

impl From<anyhow::Error> for CoreError {
    fn from(err: anyhow::Error) -> Self {
        // `{:#}` keeps the whole context chain: the library's own words.
        CoreError::Proof(format!("{err:#}"))
    }
}

impl From<std::io::Error> for CoreError {
    fn from(err: std::io::Error) -> Self {
        CoreError::Proof(err.to_string())
    }
}

pub fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs library code, turning a panic into an error instead of letting it
/// unwind into Python (where it would be an uncatchable `PanicException`).
pub fn guard<T>(f: impl FnOnce() -> CoreResult<T> + UnwindSafe) -> CoreResult<T> {
    catch_unwind(f).unwrap_or_else(|payload| {
        Err(CoreError::Proof(format!(
            "proofs library panicked: {}",
            panic_message(payload)
        )))
    })
}
