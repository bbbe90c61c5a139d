//! Groth16 parameter files: where the library looks for them, a clear error
//! when they are absent, and random test parameters for small sectors.
//!
//! The library itself fails with a terse message when a file is missing and
//! never generates one on its normal path; generation here mirrors upstream's
//! paramcache (random parameters for the real circuit) so that 2KiB and 8MiB
//! proofs work on a machine without the official files. Such parameters are
//! valid for nothing but local use.
//!
//! 512MiB test parameters are made only when asked explicitly (`allow_large`:
//! minutes of CPU and 45 MB of file), and only into a directory of their own:
//! never the library's default cache, never beside official files. Their
//! names are the library's (it finds parameters by name alone); what marks
//! them as test parameters is the `.meta` written beside them here and the
//! record `prover.proofs.params` adds. 32GiB and 64GiB are never generated:
//! their circuits take hours and tens of gigabytes to set up randomly, and
//! only the official files can prove for a real network anyway.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bellperson::groth16;
use bellperson::util_cs::bench_cs::BenchCS;
use bellperson::Circuit;
use blstrs::{Bls12, Scalar as Fr};
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

/// The library's default parameter cache, where a node's official files live.
pub const DEFAULT_CACHE_DIR: &str = "/var/tmp/filecoin-proof-parameters";
/// The largest sector size whose test parameters are made without asking.
const SMALL_TEST_SIZE: u64 = 8 << 20;
/// The one size made only when asked (`allow_large`).
const LARGE_TEST_SIZE: u64 = 512 << 20;

/// Writes random parameters and the matching verifying key into `dir` unless
/// both are there. Returns the files and whether they were generated now.
/// 2KiB and 8MiB always; 512MiB only with `allow_large`, and only into a
/// directory that is neither the library's default cache nor one holding
/// official files (see [`refuse_production_dir`]).
pub fn generate_test_params(
    proof: RegisteredPoStProof,
    dir: &Path,
    allow_large: bool,
) -> CoreResult<(ParameterFiles, bool)> {
    let size = u64::from(proof.sector_size());
    if size > SMALL_TEST_SIZE {
        if size != LARGE_TEST_SIZE {
            return Err(CoreError::invalid(format!(
                "test parameters are only generated for 2KiB and 8MiB sectors (512MiB when \
                 asked), not {size} bytes; fetch the official parameters for production sizes"
            )));
        }
        // where first: the directory is wrong whatever the flag says
        refuse_production_dir(dir)?;
        if !allow_large {
            return Err(CoreError::invalid(
                "512MiB test parameters are generated only when asked explicitly (allow_large; \
                 `prover params generate --size 512MiB --large --dir DIR`): they take minutes \
                 and belong in a directory of their own",
            ));
        }
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
            serde_json::json!({
                "sector_size": size,
                "test": true,
                "note": "random TEST parameters: valid for local use only",
            })
            .to_string()
            .as_bytes(),
        )
    })?;
    Ok((files, true))
}

/// Large test parameters must never land where production reads: not the
/// library's default cache (`/var/tmp/filecoin-proof-parameters`, however
/// it is spelt), and not a directory that holds official files (a file
/// named in `parameters.json` without the `.meta` this module writes beside
/// every file it generates): a node's cache moved elsewhere.
pub fn refuse_production_dir(dir: &Path) -> CoreResult<()> {
    let resolved = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let default = Path::new(DEFAULT_CACHE_DIR);
    if resolved(dir) == resolved(default) {
        return Err(CoreError::invalid(format!(
            "{} is the proofs library's default parameter cache: 512MiB test parameters go \
             into a directory of their own",
            dir.display()
        )));
    }
    let official: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(PUBLISHED_PARAMETERS).unwrap_or_default();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(()); // not there yet: created empty
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !official.contains_key(&name) {
            continue;
        }
        let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
        if !dir.join(format!("{stem}.meta")).is_file() {
            return Err(CoreError::invalid(format!(
                "{} holds official parameters ({name}): 512MiB test parameters go into a \
                 directory of their own, never beside production files",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The number of constraints and public inputs of a WindowPoSt partition
/// circuit of `sectors` sectors (default: the proof type's partition), from
/// its blank circuit counted without any witness (`BenchCS`). The circuit
/// repeats one gadget per sector, so two counts give the cost per sector.
pub fn circuit_size(
    proof: RegisteredPoStProof,
    sectors: Option<usize>,
) -> CoreResult<(usize, usize)> {
    let size = u64::from(proof.sector_size());
    let mut config = proof.as_v1_config();
    if let Some(n) = sectors {
        if n == 0 {
            return Err(CoreError::invalid("a circuit needs at least one sector"));
        }
        config.sector_count = n;
    }
    Ok(with_shape!(size, blank_circuit_size, &config)?)
}

fn blank_circuit_size<Tree: 'static + MerkleTreeTrait>(
    config: &PoStConfig,
) -> anyhow::Result<(usize, usize)> {
    let pub_params = window_post_public_params::<Tree>(config)?;
    let circuit = <FallbackPoStCompound<Tree> as CompoundProof<
        FallbackPoSt<'_, Tree>,
        FallbackPoStCircuit<Tree>,
    >>::blank_circuit(&pub_params);
    let mut cs = BenchCS::<Fr>::new();
    circuit.synthesize(&mut cs)?;
    Ok((cs.num_constraints(), cs.num_inputs()))
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
