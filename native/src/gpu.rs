//! What the GPU did, read from the proofs libraries' own log records.
//!
//! bellperson never says in its return values whether a SNARK ran on the
//! GPU: a CUDA build that finds no device, or whose kernels the driver
//! refuses, proves on the CPU and returns the same proof, only much later.
//! What it does say is in its `log` records, which the logger installed by
//! the Python module (`logbridge`) hands to [`observe`] before forwarding
//! them. From them this module keeps process-wide counters that a caller
//! reads before and after a SNARK ([`activity`]) to tell which path it
//! took, and the synthesis and prover times bellperson measures.
//!
//! The messages are those of bellperson 0.27 (`gpu/locks.rs`,
//! `groth16/prover/native.rs` and `supraseal.rs`), ec-gpu-gen 0.7
//! (`fft.rs`, `multiexp.rs`) and rust-gpu-tools 0.7 (`cuda/utils.rs`); the
//! CUDA build's integration test proves on a machine without a GPU and
//! asserts what they report, so a library upgrade that changes them fails
//! there rather than silently here.
//!
//! A SNARK in a CUDA build that used the GPU instantiates bellperson's FFT
//! and multiexp kernels ("GPU FFT kernel instantiated!", "GPU Multiexp
//! kernel instantiated!") once per proof. A fallback shows as the absence of
//! those lines, and usually (not always: a program the driver cannot load
//! is dropped silently in bellperson's FFT path) as a warning saying why.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bellperson::groth16;
use bellperson::{Circuit, ConstraintSystem, SynthesisError};
use blstrs::{Bls12, Scalar as Fr};
use ff::Field;
use log::{Level, Metadata, Record};
use rand::rngs::OsRng;

use crate::error::{CoreError, CoreResult};

/// Counters since the process started (only ever grow), and the last
/// failure and device error seen. Copied out by [`activity`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuActivity {
    /// Groth16 proving calls ("Bellperson ... is being used!").
    pub snarks: u64,
    /// GPU FFT kernels bellperson instantiated (one per SNARK on the GPU).
    pub fft_kernels: u64,
    /// GPU multiexp kernels bellperson instantiated.
    pub multiexp_kernels: u64,
    /// Warnings and errors that mean work left the GPU: a kernel that could
    /// not be instantiated, a GPU run that failed and went to the CPU.
    pub gpu_failures: u64,
    /// The last of those, as logged.
    pub last_failure: String,
    /// rust-gpu-tools' "Unable to retrieve CUDA devices" (logged once per
    /// process, at the first look for devices): why there is no device.
    pub device_error: String,
    /// Sums of bellperson's own "synthesis time" and "prover time" (the
    /// FFTs and multiexps: the GPU's part on a GPU build), seconds.
    pub synthesis_s: f64,
    pub prover_s: f64,
    /// How many "prover time" lines were summed.
    pub timed_proofs: u64,
}

static ACTIVITY: Mutex<GpuActivity> = Mutex::new(GpuActivity {
    snarks: 0,
    fft_kernels: 0,
    multiexp_kernels: 0,
    gpu_failures: 0,
    last_failure: String::new(),
    device_error: String::new(),
    synthesis_s: 0.0,
    prover_s: 0.0,
    timed_proofs: 0,
});

/// The crates whose info-level records this module reads (the forwarding
/// filter may still drop them on their way to Python).
const OBSERVED_CRATES: [&str; 3] = ["bellperson", "ec_gpu_gen", "rust_gpu_tools"];

/// Whether [`observe`] needs records of this target and level: the logger
/// must let them through even when it forwards only warnings.
pub fn wants(metadata: &Metadata<'_>) -> bool {
    metadata.level() <= Level::Info && observed(metadata.target())
}

fn observed(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or("");
    OBSERVED_CRATES.contains(&krate)
}

/// Reads one record into the counters (cheap for every other record).
pub fn observe(record: &Record<'_>) {
    if !wants(record.metadata()) {
        return;
    }
    let msg = record.args().to_string();
    let mut a = ACTIVITY.lock().unwrap_or_else(|e| e.into_inner());
    note(&mut a, record.level(), &msg);
}

fn note(a: &mut GpuActivity, level: Level, msg: &str) {
    if msg.starts_with("Bellperson ") && msg.ends_with(" is being used!") {
        a.snarks += 1;
    } else if msg == "GPU FFT kernel instantiated!" {
        a.fft_kernels += 1;
    } else if msg == "GPU Multiexp kernel instantiated!" {
        a.multiexp_kernels += 1;
    } else if msg.starts_with("Unable to retrieve CUDA devices") {
        a.device_error = msg.to_string();
    } else if let Some(t) = msg.strip_prefix("synthesis time: ") {
        a.synthesis_s += parse_duration(t).map_or(0.0, |d| d.as_secs_f64());
    } else if let Some(t) = msg.strip_prefix("prover time: ") {
        a.prover_s += parse_duration(t).map_or(0.0, |d| d.as_secs_f64());
        a.timed_proofs += 1;
    } else if level <= Level::Warn
        && (msg.starts_with("Cannot instantiate GPU")
            || msg.contains("Falling back to CPU")
            || msg.starts_with("Cannot initialize kernel for device"))
    {
        a.gpu_failures += 1;
        a.last_failure = msg.to_string();
    }
}

/// `Duration`'s Debug form as bellperson logs it: `1.234567s`, `12.5ms`,
/// `830.1µs`, `15ns`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ns") {
        (n, 1e-9)
    } else if let Some(n) = text.strip_suffix("µs").or_else(|| text.strip_suffix("us")) {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value * scale))
}

/// A copy of the counters now.
pub fn activity() -> GpuActivity {
    ACTIVITY.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// x^(2^n) = y, one squaring per constraint: a circuit big enough that
/// bellperson runs its FFT and multiexps (on the GPU in a CUDA build) and
/// small enough to prove in milliseconds.
struct Squarings {
    x: Option<Fr>,
    n: usize,
}

impl Circuit<Fr> for Squarings {
    fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> Result<(), SynthesisError> {
        let mut value = self.x;
        let mut var = cs.alloc(|| "x", || value.ok_or(SynthesisError::AssignmentMissing))?;
        for i in 0..self.n {
            let next_value = value.map(|v| v.square());
            let next = if i + 1 == self.n {
                cs.alloc_input(
                    || "y",
                    || next_value.ok_or(SynthesisError::AssignmentMissing),
                )?
            } else {
                cs.alloc(
                    || format!("x^2^{}", i + 1),
                    || next_value.ok_or(SynthesisError::AssignmentMissing),
                )?
            };
            cs.enforce(
                || format!("square {i}"),
                |lc| lc + var,
                |lc| lc + var,
                |lc| lc + next,
            );
            var = next;
            value = next_value;
        }
        Ok(())
    }
}

/// What one tiny Groth16 proof did: the counters' growth over it, and its
/// wall time. For `prover doctor`: a CUDA build whose probe instantiates no
/// GPU kernel would prove WindowPoSt on the CPU too.
pub struct Probe {
    pub seconds: f64,
    pub during: GpuActivity,
}

pub fn probe() -> CoreResult<Probe> {
    let n = 1 << 8;
    let start = Instant::now();
    let before = activity();
    let params =
        groth16::generate_random_parameters::<Bls12, _, _>(Squarings { x: None, n }, &mut OsRng)
            .map_err(|e| CoreError::Proof(format!("probe parameters: {e}")))?;
    let x = Fr::from(3u64);
    let proof = prove_tiny(Squarings { x: Some(x), n }, &params)?;
    let mut y = x;
    for _ in 0..n {
        y = y.square();
    }
    let pvk = groth16::prepare_verifying_key(&params.vk);
    if !groth16::verify_proof(&pvk, &proof, &[y])
        .map_err(|e| CoreError::Proof(format!("probe verify: {e}")))?
    {
        return Err(CoreError::Proof(
            "the probe's proof does not verify".to_string(),
        ));
    }
    Ok(Probe {
        seconds: start.elapsed().as_secs_f64(),
        during: since(&before, &activity()),
    })
}

#[cfg(not(feature = "supraseal"))]
fn prove_tiny(
    circuit: Squarings,
    params: &groth16::Parameters<Bls12>,
) -> CoreResult<groth16::Proof<Bls12>> {
    groth16::create_random_proof(circuit, params, &mut OsRng)
        .map_err(|e| CoreError::Proof(format!("probe proof: {e}")))
}

/// SupraSeal's prover takes its parameters from a file, which it loads onto
/// the GPU (no GPU: an error, as for any proof of that build).
#[cfg(feature = "supraseal")]
fn prove_tiny(
    circuit: Squarings,
    params: &groth16::Parameters<Bls12>,
) -> CoreResult<groth16::Proof<Bls12>> {
    use std::io::Write;

    let dir = std::env::temp_dir().join(format!("prover-gpu-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("probe.params");
    let loaded = (|| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        params.write(&mut w)?;
        w.flush()?;
        drop(w);
        groth16::SuprasealParameters::<Bls12>::new(path.clone())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let srs = loaded.map_err(|e| CoreError::Proof(format!("probe parameters (SupraSeal): {e}")))?;
    groth16::create_random_proof(circuit, &srs, &mut OsRng)
        .map_err(|e| CoreError::Proof(format!("probe proof: {e}")))
}

/// The growth of the counters from `before` to `after`; the texts are
/// `after`'s when they changed (a failure seen in between), else empty,
/// except the device error, which is logged once per process and holds for
/// its whole life.
pub fn since(before: &GpuActivity, after: &GpuActivity) -> GpuActivity {
    GpuActivity {
        snarks: after.snarks - before.snarks,
        fft_kernels: after.fft_kernels - before.fft_kernels,
        multiexp_kernels: after.multiexp_kernels - before.multiexp_kernels,
        gpu_failures: after.gpu_failures - before.gpu_failures,
        last_failure: if after.gpu_failures > before.gpu_failures {
            after.last_failure.clone()
        } else {
            String::new()
        },
        device_error: after.device_error.clone(),
        synthesis_s: after.synthesis_s - before.synthesis_s,
        prover_s: after.prover_s - before.prover_s,
        timed_proofs: after.timed_proofs - before.timed_proofs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_debug_prints_them() {
        let d = |s| parse_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(d("1.5s"), Some(1.5));
        assert!((d("12.5ms").unwrap() - 0.0125).abs() < 1e-12);
        assert!((d("830.1µs").unwrap() - 0.0008301).abs() < 1e-12);
        assert!((d("15ns").unwrap() - 15e-9).abs() < 1e-15);
        assert_eq!(d("soon"), None);
        assert_eq!(d("-1s"), None);
    }

    #[test]
    fn a_gpu_proof_and_a_fallback_read_apart() {
        let mut a = GpuActivity::default();
        note(&mut a, Level::Info, "Bellperson 0.27.0 is being used!");
        note(&mut a, Level::Info, "synthesis time: 1.25s");
        note(&mut a, Level::Info, "GPU FFT kernel instantiated!");
        note(&mut a, Level::Info, "GPU Multiexp kernel instantiated!");
        note(&mut a, Level::Info, "prover time: 500ms");
        assert_eq!((a.snarks, a.fft_kernels, a.multiexp_kernels), (1, 1, 1));
        assert_eq!((a.synthesis_s, a.prover_s, a.timed_proofs), (1.25, 0.5, 1));
        assert_eq!(a.gpu_failures, 0);
        let before = a.clone();
        note(
            &mut a,
            Level::Warn,
            "Unable to retrieve CUDA devices: Cuda(CUDA_ERROR_NO_DEVICE)",
        );
        note(
            &mut a,
            Level::Warn,
            "Cannot instantiate GPU FFT kernel! Error: No working GPUs found!",
        );
        // an info line that merely looks like one is not a failure
        note(&mut a, Level::Info, "Cannot instantiate GPU (just kidding)");
        let d = since(&before, &a);
        assert_eq!(
            (d.fft_kernels, d.multiexp_kernels, d.gpu_failures),
            (0, 0, 1)
        );
        assert!(d.last_failure.contains("No working GPUs found!"));
        assert!(d.device_error.contains("CUDA_ERROR_NO_DEVICE"));
        assert!(since(&a, &a).last_failure.is_empty());
    }
}
