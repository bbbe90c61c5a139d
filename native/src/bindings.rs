//! The `prover._native` module. Each function converts and checks its
//! arguments while holding the GIL, then runs the library with the GIL
//! released (a heartbeat thread keeps running; vanilla proofs on several
//! threads run at once), then maps any failure to a Python exception class.
//! Proof types travel as the Rust API's names (`StackedDrgWindow2KiBV1_2`).

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};

use crate::error::{guard, CoreError, CoreResult};
use crate::post::{self, Replica};
use crate::types::{bytes32, comm_r, post_proof, scalar32, seal_proof_for};
use crate::{gpu, logbridge, params, sectors};

impl CoreError {
    /// The one mapping from error kinds to Python classes. The classes live
    /// in Python so that they carry attributes (`sector_id`, `path`).
    fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let module = match py.import("prover.proofs.errors") {
            Ok(m) => m,
            Err(err) => return err,
        };
        let built = match self {
            CoreError::InvalidInput(msg) => {
                module.getattr("InvalidInput").and_then(|c| c.call1((msg,)))
            }
            CoreError::SectorFault { sector_id, reason } => module
                .getattr("SectorFault")
                .and_then(|c| c.call1((sector_id, reason))),
            CoreError::ParametersMissing { path, dir } => module
                .getattr("ParametersMissing")
                .and_then(|c| c.call1((path, dir))),
            CoreError::Proof(msg) => module.getattr("ProofError").and_then(|c| c.call1((msg,))),
        };
        match built {
            Ok(exc) => PyErr::from_value(exc),
            Err(err) => err,
        }
    }
}

trait IntoPy<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for CoreResult<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| e.into_pyerr(py))
    }
}

/// Long work with the GIL released and panics caught.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> CoreResult<T> + Send) -> PyResult<T> {
    py.detach(move || guard(AssertUnwindSafe(f))).py(py)
}

/// (sector size in bytes, sectors per partition, challenges per sector).
#[pyfunction]
fn proof_type_info(py: Python<'_>, proof_type: &str) -> PyResult<(u64, usize, usize)> {
    let proof = post_proof(proof_type).py(py)?;
    let config = proof.as_v1_config();
    Ok((
        u64::from(proof.sector_size()),
        proof.sector_count(),
        config.challenge_count,
    ))
}

#[pyfunction]
fn parameter_cache_dir() -> PathBuf {
    params::cache_dir()
}

/// The (params, vk) paths of a proof type in `dir` (default: the library's).
#[pyfunction]
#[pyo3(signature = (proof_type, dir=None))]
fn parameter_files(
    py: Python<'_>,
    proof_type: &str,
    dir: Option<PathBuf>,
) -> PyResult<(PathBuf, PathBuf)> {
    let proof = post_proof(proof_type).py(py)?;
    let dir = dir.unwrap_or_else(params::cache_dir);
    let files = params::files_in(proof, &dir).py(py)?;
    Ok((files.params, files.vk))
}

/// Random test parameters in `dir`; returns (params, vk, generated_now).
/// 512MiB only with `allow_large` (and never into a production cache).
#[pyfunction]
#[pyo3(signature = (proof_type, dir, allow_large=false))]
fn generate_test_params(
    py: Python<'_>,
    proof_type: &str,
    dir: PathBuf,
    allow_large: bool,
) -> PyResult<(PathBuf, PathBuf, bool)> {
    let proof = post_proof(proof_type).py(py)?;
    let (files, generated) = detached(py, move || {
        params::generate_test_params(proof, &dir, allow_large)
    })?;
    Ok((files.params, files.vk, generated))
}

/// (constraints, public inputs) of a partition circuit of `sectors` sectors
/// (default: the proof type's partition).
#[pyfunction]
#[pyo3(signature = (proof_type, sectors=None))]
fn circuit_size(
    py: Python<'_>,
    proof_type: &str,
    sectors: Option<usize>,
) -> PyResult<(usize, usize)> {
    let proof = post_proof(proof_type).py(py)?;
    detached(py, move || params::circuit_size(proof, sectors))
}

fn activity_dict<'py>(py: Python<'py>, a: &gpu::GpuActivity) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("snarks", a.snarks)?;
    d.set_item("fft_kernels", a.fft_kernels)?;
    d.set_item("multiexp_kernels", a.multiexp_kernels)?;
    d.set_item("gpu_failures", a.gpu_failures)?;
    d.set_item("last_failure", &a.last_failure)?;
    d.set_item("device_error", &a.device_error)?;
    d.set_item("synthesis_s", a.synthesis_s)?;
    d.set_item("prover_s", a.prover_s)?;
    d.set_item("timed_proofs", a.timed_proofs)?;
    Ok(d)
}

/// What the GPU did in this process so far, as the libraries' logs told it
/// (counters; see `gpu.rs`): read before and after a SNARK.
#[pyfunction]
fn gpu_activity(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    activity_dict(py, &gpu::activity())
}

/// One tiny Groth16 proof; returns its seconds and what the GPU did during it.
#[pyfunction]
fn gpu_probe(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let probe = detached(py, gpu::probe)?;
    let d = activity_dict(py, &probe.during)?;
    d.set_item("seconds", probe.seconds)?;
    Ok(d)
}

#[pyfunction]
fn generate_challenges(
    py: Python<'_>,
    proof_type: &str,
    randomness: &[u8],
    prover_id: &[u8],
    sector_ids: Vec<u64>,
) -> PyResult<BTreeMap<u64, Vec<u64>>> {
    let proof = post_proof(proof_type).py(py)?;
    let randomness = scalar32("randomness", randomness).py(py)?;
    let prover_id = scalar32("prover_id", prover_id).py(py)?;
    detached(py, move || {
        post::challenges(proof, randomness, prover_id, &sector_ids)
    })
}

#[pyfunction]
fn vanilla_proof<'py>(
    py: Python<'py>,
    proof_type: &str,
    sector_id: u64,
    comm_r_bytes: &[u8],
    sealed_path: PathBuf,
    cache_dir: PathBuf,
    challenges: Vec<u64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let proof = post_proof(proof_type).py(py)?;
    let replica = Replica {
        sector_id,
        comm_r: comm_r(sector_id, comm_r_bytes).py(py)?,
        sealed: sealed_path,
        cache: cache_dir,
    };
    let bytes = detached(py, move || post::vanilla(proof, &replica, &challenges))?;
    Ok(PyBytes::new(py, &bytes))
}

#[pyfunction]
fn verify_vanilla(
    py: Python<'_>,
    proof_type: &str,
    randomness: &[u8],
    prover_id: &[u8],
    sector_id: u64,
    comm_r_bytes: &[u8],
    proof_bytes: Vec<u8>,
) -> PyResult<bool> {
    let proof = post_proof(proof_type).py(py)?;
    let randomness = scalar32("randomness", randomness).py(py)?;
    let prover_id = scalar32("prover_id", prover_id).py(py)?;
    let comm_r = comm_r(sector_id, comm_r_bytes).py(py)?;
    detached(py, move || {
        post::verify_vanilla(
            proof,
            randomness,
            prover_id,
            sector_id,
            comm_r,
            &proof_bytes,
        )
    })
}

#[pyfunction]
fn partition_snark<'py>(
    py: Python<'py>,
    proof_type: &str,
    randomness: &[u8],
    prover_id: &[u8],
    vanilla_proofs: Vec<PyBackedBytes>,
    partition_index: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let proof = post_proof(proof_type).py(py)?;
    let randomness = scalar32("randomness", randomness).py(py)?;
    let prover_id = scalar32("prover_id", prover_id).py(py)?;
    let vanilla: Vec<Vec<u8>> = vanilla_proofs.iter().map(|b| b.to_vec()).collect();
    let bytes = detached(py, move || {
        post::snark(proof, randomness, prover_id, &vanilla, partition_index)
    })?;
    Ok(PyBytes::new(py, &bytes))
}

#[pyfunction]
fn merge_partition_proofs<'py>(
    py: Python<'py>,
    proof_type: &str,
    proofs: Vec<PyBackedBytes>,
) -> PyResult<Bound<'py, PyBytes>> {
    let proof = post_proof(proof_type).py(py)?;
    let parts: Vec<Vec<u8>> = proofs.iter().map(|b| b.to_vec()).collect();
    let bytes = post::merge(proof, parts).py(py)?;
    Ok(PyBytes::new(py, &bytes))
}

#[pyfunction]
fn verify_window_post(
    py: Python<'_>,
    proof_type: &str,
    randomness: &[u8],
    prover_id: &[u8],
    public_sectors: Vec<(u64, PyBackedBytes)>,
    proof_bytes: &[u8],
) -> PyResult<bool> {
    let proof = post_proof(proof_type).py(py)?;
    let randomness = scalar32("randomness", randomness).py(py)?;
    let prover_id = scalar32("prover_id", prover_id).py(py)?;
    let sectors = public_sectors
        .iter()
        .map(|(id, c)| Ok((*id, comm_r(*id, c)?)))
        .collect::<CoreResult<Vec<_>>>()
        .py(py)?;
    let proof_bytes = proof_bytes.to_vec();
    detached(py, move || {
        post::verify(proof, randomness, prover_id, &sectors, &proof_bytes)
    })
}

/// A fauxrep replica for a WindowPoSt type's sector size; returns comm_r.
#[pyfunction]
fn fauxrep<'py>(
    py: Python<'py>,
    proof_type: &str,
    cache_dir: PathBuf,
    sealed_path: PathBuf,
) -> PyResult<Bound<'py, PyBytes>> {
    let seal = seal_proof_for(post_proof(proof_type).py(py)?);
    let comm_r = detached(py, move || {
        sectors::fake_replica(seal, &cache_dir, &sealed_path)
    })?;
    Ok(PyBytes::new(py, &comm_r))
}

/// A really sealed sector (PC1 + PC2) of random data, or of zeros when
/// `committed_capacity`; returns comm_r.
#[pyfunction]
#[pyo3(signature = (proof_type, sector_id, prover_id, cache_dir, sealed_path, staged_path, committed_capacity=false))]
#[allow(clippy::too_many_arguments)]
fn seal_sector<'py>(
    py: Python<'py>,
    proof_type: &str,
    sector_id: u64,
    prover_id: &[u8],
    cache_dir: PathBuf,
    sealed_path: PathBuf,
    staged_path: PathBuf,
    committed_capacity: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let seal = seal_proof_for(post_proof(proof_type).py(py)?);
    let prover_id = bytes32("prover_id", prover_id).py(py)?;
    let comm_r = detached(py, move || {
        sectors::seal_test_sector(
            seal,
            sector_id,
            prover_id,
            &cache_dir,
            &sealed_path,
            &staged_path,
            committed_capacity,
        )
    })?;
    Ok(PyBytes::new(py, &comm_r))
}

/// A snap upgrade (empty-sector update encode) of a sealed sector with
/// random deal data; returns the new comm_r.
#[pyfunction]
fn update_sector<'py>(
    py: Python<'py>,
    proof_type: &str,
    sector_key_path: PathBuf,
    sector_key_cache_dir: PathBuf,
    update_path: PathBuf,
    update_cache_dir: PathBuf,
    staged_path: PathBuf,
) -> PyResult<Bound<'py, PyBytes>> {
    let seal = seal_proof_for(post_proof(proof_type).py(py)?);
    let comm_r = detached(py, move || {
        sectors::update_test_sector(
            seal,
            &sector_key_path,
            &sector_key_cache_dir,
            &update_path,
            &update_cache_dir,
            &staged_path,
        )
    })?;
    Ok(PyBytes::new(py, &comm_r))
}

// `supraseal` and `cuda` are exclusive (filecoin-proofs refuses both).
const BUILD_FLAVOR: &str = if cfg!(feature = "supraseal") {
    "supraseal"
} else if cfg!(feature = "cuda") {
    "cuda"
} else {
    "cpu"
};
const CUDA_VERSION: &str = match option_env!("PROVER_BUILD_CUDA") {
    Some(v) => v,
    None => "",
};

#[pymodule]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PARTITION_PROOF_LEN", post::PARTITION_PROOF_LEN)?;
    // The digests of the official parameter files, as the built library
    // itself carries them (storage-proofs-core's include_str! of its
    // parameters.json, the list Lotus' fetch-params checks too): what
    // `prover params check` compares files against.
    m.add("PARAMETERS_JSON", params::PUBLISHED_PARAMETERS)?;
    m.add("PARAMETER_CACHE_VERSION", params::CACHE_VERSION)?;
    // Which build this is, for `prover --version`, worker start lines and
    // `prover workers list`: cpu, cuda (bellperson's CUDA kernels) or
    // supraseal (SupraSeal's C2 kernels for Groth16).
    m.add("BUILD_FLAVOR", BUILD_FLAVOR)?;
    // The CUDA toolkit a cuda build was compiled with (.ci/cuda-build sets
    // PROVER_BUILD_CUDA), which decides the oldest driver it runs on.
    m.add("CUDA_VERSION", CUDA_VERSION)?;
    m.add_function(wrap_pyfunction!(proof_type_info, m)?)?;
    m.add_function(wrap_pyfunction!(parameter_cache_dir, m)?)?;
    m.add_function(wrap_pyfunction!(parameter_files, m)?)?;
    m.add_function(wrap_pyfunction!(generate_test_params, m)?)?;
    m.add_function(wrap_pyfunction!(generate_challenges, m)?)?;
    m.add_function(wrap_pyfunction!(vanilla_proof, m)?)?;
    m.add_function(wrap_pyfunction!(verify_vanilla, m)?)?;
    m.add_function(wrap_pyfunction!(partition_snark, m)?)?;
    m.add_function(wrap_pyfunction!(merge_partition_proofs, m)?)?;
    m.add_function(wrap_pyfunction!(verify_window_post, m)?)?;
    m.add_function(wrap_pyfunction!(fauxrep, m)?)?;
    m.add_function(wrap_pyfunction!(seal_sector, m)?)?;
    m.add_function(wrap_pyfunction!(update_sector, m)?)?;
    m.add_function(wrap_pyfunction!(circuit_size, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_activity, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_probe, m)?)?;
    // the libraries' log records, to Python's logging and to `gpu_activity`
    logbridge::install(m.py())?;
    Ok(())
}
