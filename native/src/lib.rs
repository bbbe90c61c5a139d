//! Native proof core of the prover service: checked wrappers over
//! `filecoin-proofs-api` (modules `post`, `params`, `sectors`), what the GPU
//! did as the libraries' logs tell it (`gpu`), and, with the default `python`
//! feature, their PyO3 bindings (`prover._native`) and the logger that
//! forwards those logs to Python (`logbridge`).
//!
//! The Rust API has no Python in it so that `examples/post_timings.rs` can
//! time the very same steps without an interpreter, as the benchmark's
//! baseline.

pub mod error;
pub mod gpu;
pub mod logbridge;
pub mod params;
pub mod post;
pub mod sectors;
pub mod types;

#[cfg(feature = "python")]
mod bindings;
