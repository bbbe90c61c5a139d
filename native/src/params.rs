//! Groth16 parameter files: where the library looks for them, a clear error
//! when they are absent, and random test parameters for small sectors.
//!
//! The library itself fails with a terse message when a file is missing and
//! never generates one on its normal path; generation here mirrors upstream's
//! paramcache (random parameters for the real circuit) so that 2KiB and 8MiB
//! proofs work on a machine without the official files. Such parameters are
//! valid for nothing but local use.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bellperson::groth16;
use blstrs::Bls12;
use filecoin_proofs::parameters::window_post_public_params;
use filecoin_proofs::{with_shape, MerkleTreeTrait, PoStConfig};
use filecoin_proofs_api::RegisteredPoStProof;
use rand::rngs::OsRng;
use storage_proofs_core::compound_proof::CompoundProof;
use storage_proofs_core::parameter_cache::{parameter_cache_dir, PARAMETERS_DATA, VERSION};
use storage_proofs_post::fallback::{FallbackPoSt, FallbackPoStCircuit, FallbackPoStCompound};

use crate::error::{CoreError, CoreResult};

/// The library's own `parameters.json` (file name -> cid, digest,
/// sector_size): the official files and their digests, in step with the
/// circuits this build proves with.
pub const PUBLISHED_PARAMETERS: &str = PARAMETERS_DATA;

/// The cache version in every parameter file name (`v28-...`).
pub const CACHE_VERSION: usize = VERSION;

/// The directory the library reads parameters from, fixed on first use from
/// `FIL_PROOFS_PARAMETER_CACHE` (default `/var/tmp/filecoin-proof-parameters/`).
pub fn cache_dir() -> PathBuf {
    parameter_cache_dir()
}

pub struct ParameterFiles {
    pub params: PathBuf,
    pub vk: PathBuf,
}

pub fn files_in(proof: RegisteredPoStProof, dir: &Path) -> CoreResult<ParameterFiles> {
    let id = proof.circuit_identifier()?;
    Ok(ParameterFiles {
        params: dir.join(format!("v{VERSION}-{id}.params")),
        vk: dir.join(format!("v{VERSION}-{id}.vk")),
    })
}

fn require(path: PathBuf, dir: PathBuf) -> CoreResult<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(CoreError::ParametersMissing { path, dir })
    }
}

/// Checks up front what the SNARK step would otherwise fail on deep inside.
pub fn require_params(proof: RegisteredPoStProof) -> CoreResult<()> {
    let dir = cache_dir();
    require(files_in(proof, &dir)?.params, dir)
}

pub fn require_vk(proof: RegisteredPoStProof) -> CoreResult<()> {
    let dir = cache_dir();
    require(files_in(proof, &dir)?.vk, dir)
}

/// Writes random parameters and the matching verifying key into `dir` unless
/// both are there. Returns the files and whether they were generated now.
pub fn generate_test_params(
    proof: RegisteredPoStProof,
    dir: &Path,
) -> CoreResult<(ParameterFiles, bool)> {
    let size = u64::from(proof.sector_size());
    if size > 8 << 20 {
        return Err(CoreError::invalid(format!(
            "test parameters are only generated for 2KiB and 8MiB sectors, not {size} bytes; \
             fetch the official parameters for production sizes"
        )));
    }
    let files = files_in(proof, dir)?;
    match (files.params.is_file(), files.vk.is_file()) {
        (true, true) => return Ok((files, false)),
        (false, false) => {}
        (has_params, _) => {
            let (present, absent) = if has_params {
                (&files.params, &files.vk)
            } else {
                (&files.vk, &files.params)
            };
            return Err(CoreError::Proof(format!(
                "found {} but not {}: a parameter file and its verifying key must be \
                 generated together; remove the first or restore the second",
                present.display(),
                absent.display()
            )));
        }
    }
    fs::create_dir_all(dir)?;
    let config = proof.as_v1_config();
    let params = with_shape!(size, random_params, &config)?;
    write_atomically(&files.params, |w| params.write(w))?;
    write_atomically(&files.vk, |w| params.vk.write(w))?;
    let meta = files.params.with_extension("meta");
    write_atomically(&meta, |w| {
        w.write_all(
            serde_json::json!({ "sector_size": size })
                .to_string()
                .as_bytes(),
        )
    })?;
    Ok((files, true))
}

fn random_params<Tree: 'static + MerkleTreeTrait>(
    config: &PoStConfig,
) -> anyhow::Result<groth16::Parameters<Bls12>> {
    let pub_params = window_post_public_params::<Tree>(config)?;
    let circuit = <FallbackPoStCompound<Tree> as CompoundProof<
        FallbackPoSt<'_, Tree>,
        FallbackPoStCircuit<Tree>,
    >>::blank_circuit(&pub_params);
    Ok(groth16::generate_random_parameters::<Bls12, _, _>(
        circuit, &mut OsRng,
    )?)
}

/// Another process proving at the same moment must never map a half-written
/// parameter file: write beside it, then rename.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> CoreResult<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
    }
    fs::rename(&tmp, path)?;
    Ok(())
}
