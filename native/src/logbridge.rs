//! The proofs libraries' `log` records, into Python's logging.
//!
//! bellperson, filecoin-proofs, storage-proofs and rust-gpu-tools report
//! through the `log` crate, and without a logger every record is lost: a
//! CUDA build that falls back to the CPU says so only there. The logger
//! installed here (once, when the module is loaded) does two things with
//! each record:
//!
//! - [`gpu::observe`] reads the few records that say which way a SNARK
//!   went (kernels instantiated or not, bellperson's timings), at info
//!   level, whatever is forwarded;
//! - pyo3-log forwards those that pass `PROVER_NATIVE_LOG` to the Python
//!   logger `prover.native.<target>` (`prover.proofs.native` routes that
//!   into the structured log). bellperson logs several info lines per
//!   proof and far more at debug, so the default is warnings and errors.
//!
//! `PROVER_NATIVE_LOG` reads like `RUST_LOG`: a level (`off`, `error`,
//! `warn`, `info`, `debug`, `trace`), and `target=level` pairs for crates
//! or modules, comma-separated: `warn,bellperson=info`.

use log::LevelFilter;
#[cfg(feature = "python")]
pub use python::install;

pub const ENV: &str = "PROVER_NATIVE_LOG";
/// The Python logger every forwarded record goes under.
pub const PREFIX: &str = "prover.native";
const DEFAULT: LevelFilter = LevelFilter::Warn;

#[cfg(feature = "python")]
mod python {
    use std::cmp;

    use log::{LevelFilter, Log, Metadata, Record};
    use pyo3::prelude::*;
    use pyo3_log::{Caching, Logger};

    use super::{parse_spec, ENV, PREFIX};
    use crate::gpu;

    pub(super) struct Bridge {
        pub(super) forward: Logger,
    }

    impl Log for Bridge {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            gpu::wants(metadata) || self.forward.enabled(metadata)
        }

        fn log(&self, record: &Record<'_>) {
            gpu::observe(record);
            if self.forward.enabled(record.metadata()) {
                self.forward.log(record);
            }
        }

        fn flush(&self) {}
    }

    /// Installs the logger, unless one is already (a second load of the module
    /// in this process keeps the first).
    pub fn install(py: Python<'_>) -> PyResult<()> {
        let spec = std::env::var(ENV).unwrap_or_default();
        let (top, targets, bad) = parse_spec(&spec);
        let most = targets.iter().map(|(_, l)| *l).fold(top, cmp::max);
        let mut forward = Logger::new(py, Caching::LoggersAndLevels)?
            .set_prefix(PREFIX)
            .filter(top);
        for (target, level) in targets {
            forward = forward.filter_target(target, level);
        }
        if log::set_boxed_logger(Box::new(Bridge { forward })).is_ok() {
            // info at least, for what `gpu::observe` reads; the forwarding
            // filter drops the rest before it costs a trip into Python
            log::set_max_level(cmp::max(most, LevelFilter::Info));
            if !bad.is_empty() {
                log::warn!("{ENV}: ignored {:?} (expected LEVEL or TARGET=LEVEL)", bad);
            }
        }
        Ok(())
    }
}

/// The filter a `PROVER_NATIVE_LOG` value asks for: the default level, the
/// per-target levels, and the pieces that made no sense (ignored).
pub fn parse_spec(spec: &str) -> (LevelFilter, Vec<(String, LevelFilter)>, Vec<String>) {
    let mut top = DEFAULT;
    let mut targets = Vec::new();
    let mut bad = Vec::new();
    for piece in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match piece.split_once('=') {
            None => match piece.parse::<LevelFilter>() {
                Ok(level) => top = level,
                Err(_) => bad.push(piece.to_string()),
            },
            Some((target, level)) => match level.trim().parse::<LevelFilter>() {
                Ok(level) if !target.trim().is_empty() => {
                    // Python's dotted names are accepted for Rust's paths
                    targets.push((target.trim().replace('.', "::"), level))
                }
                _ => bad.push(piece.to_string()),
            },
        }
    }
    (top, targets, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_like_rust_log() {
        let (top, targets, bad) = parse_spec("");
        assert_eq!((top, targets.len(), bad.len()), (LevelFilter::Warn, 0, 0));
        let (top, targets, bad) = parse_spec("info, bellperson.gpu=debug,ec_gpu_gen=off,loud,x=");
        assert_eq!(top, LevelFilter::Info);
        assert_eq!(
            targets,
            vec![
                ("bellperson::gpu".to_string(), LevelFilter::Debug),
                ("ec_gpu_gen".to_string(), LevelFilter::Off)
            ]
        );
        assert_eq!(bad, vec!["loud".to_string(), "x=".to_string()]);
    }
}
