//! Replica files on disk: the checks that turn a bad sector into a clear
//! `SectorFault` before the library touches it, and the ways of making
//! provable test replicas: fauxrep, a real PC1 + PC2 seal, and a real
//! empty-sector update (SnapDeals) of a sealed committed-capacity sector.

use std::fs::{self, File, OpenOptions};
use std::io::Cursor;
use std::path::Path;

use filecoin_proofs_api::seal::{
    add_piece, clear_cache, fauxrep, seal_pre_commit_phase1, seal_pre_commit_phase2,
};
use filecoin_proofs_api::update::empty_sector_update_encode_into;
use filecoin_proofs_api::{
    Commitment, PaddedBytesAmount, PieceInfo, RegisteredPoStProof, RegisteredSealProof,
    RegisteredUpdateProof, SectorId, UnpaddedBytesAmount,
};
use rand::RngCore;

use crate::error::{CoreError, CoreResult};

/// `p_aux` holds comm_c and comm_r_last, two 32-byte field elements.
const P_AUX_LEN: u64 = 64;

/// tree-r-last is split into one file per sub-tree for the big shapes
/// (32GiB: 8, 64GiB: 16), a single file otherwise.
fn tree_r_last_files(sector_size: u64) -> Vec<String> {
    let count = match sector_size {
        s if s == 32 << 30 => 8,
        s if s == 64 << 30 => 16,
        _ => 1,
    };
    if count == 1 {
        vec!["sc-02-data-tree-r-last.dat".to_string()]
    } else {
        (0..count)
            .map(|i| format!("sc-02-data-tree-r-last-{i}.dat"))
            .collect()
    }
}

/// Everything proving reads, checked for presence and size. The library
/// would fail on most of these too, but with messages that do not name the
/// file, and a short file can be mapped and read past its end.
pub fn check_replica_files(
    proof: RegisteredPoStProof,
    sector_id: u64,
    sealed: &Path,
    cache: &Path,
) -> CoreResult<()> {
    let fault = |reason: String| CoreError::fault(sector_id, reason);
    let sector_size = u64::from(proof.sector_size());
    let sealed_len = fs::metadata(sealed)
        .map_err(|e| fault(format!("sealed file {}: {e}", sealed.display())))?
        .len();
    if sealed_len != sector_size {
        return Err(fault(format!(
            "sealed file {} is {sealed_len} bytes, expected {sector_size}",
            sealed.display()
        )));
    }
    if !cache.is_dir() {
        return Err(fault(format!(
            "cache directory {} does not exist",
            cache.display()
        )));
    }
    let p_aux = cache.join("p_aux");
    let p_aux_len = fs::metadata(&p_aux)
        .map_err(|e| fault(format!("{}: {e}", p_aux.display())))?
        .len();
    if p_aux_len != P_AUX_LEN {
        return Err(fault(format!(
            "{} is {p_aux_len} bytes, expected {P_AUX_LEN}",
            p_aux.display()
        )));
    }
    for name in tree_r_last_files(sector_size) {
        let path = cache.join(&name);
        let len = fs::metadata(&path)
            .map_err(|e| fault(format!("{}: {e}", path.display())))?
            .len();
        if len == 0 {
            return Err(fault(format!("{} is empty", path.display())));
        }
    }
    Ok(())
}

fn prepare_paths(cache: &Path, sealed: &Path) -> CoreResult<()> {
    fs::create_dir_all(cache)?;
    if let Some(parent) = sealed.parent() {
        fs::create_dir_all(parent)?;
    }
    Ok(())
}

/// A zero-filled replica with a real tree-r-last and `p_aux` (random comm_c),
/// provable like a sealed one, made in milliseconds instead of a seal.
pub fn fake_replica(
    seal: RegisteredSealProof,
    cache: &Path,
    sealed: &Path,
) -> CoreResult<Commitment> {
    prepare_paths(cache, sealed)?;
    Ok(fauxrep(seal, cache, sealed)?)
}

/// Fills `staged` with one piece spanning the whole sector, in the padded
/// form sealing reads: random bytes, or zeros for a committed-capacity
/// sector (what a snap upgrade starts from).
fn stage_piece(seal: RegisteredSealProof, staged: &Path, zeros: bool) -> CoreResult<PieceInfo> {
    let padded = PaddedBytesAmount(u64::from(seal.sector_size()));
    let unpadded = UnpaddedBytesAmount::from(padded);
    let mut data = vec![0u8; u64::from(unpadded) as usize];
    if !zeros {
        rand::thread_rng().fill_bytes(&mut data);
    }
    let staged_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(staged)?;
    let (piece, _) = add_piece(seal, Cursor::new(data), staged_file, unpadded, &[])?;
    Ok(piece)
}

/// A genuinely sealed sector: add_piece, PC1, PC2, then the cache is cleared
/// down to what proving (and a later update) reads, as a finalized sector.
/// `committed_capacity` seals zeros, as a CC sector is.
pub fn seal_test_sector(
    seal: RegisteredSealProof,
    sector_id: u64,
    prover_id: [u8; 32],
    cache: &Path,
    sealed: &Path,
    staged: &Path,
    committed_capacity: bool,
) -> CoreResult<Commitment> {
    prepare_paths(cache, sealed)?;
    let mut ticket = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut ticket);
    let piece = stage_piece(seal, staged, committed_capacity)?;
    File::create(sealed)?;
    let phase1 = seal_pre_commit_phase1(
        seal,
        cache,
        staged,
        sealed,
        prover_id,
        SectorId::from(sector_id),
        ticket,
        &[piece],
    )?;
    let phase2 = seal_pre_commit_phase2(phase1, cache, sealed)?;
    clear_cache(cache)?;
    fs::remove_file(staged)?;
    Ok(phase2.comm_r)
}

/// The update proof of the seal proof's sector size (all are `V1`, which
/// the library maps to API version 1.1).
fn update_proof_for(seal: RegisteredSealProof) -> RegisteredUpdateProof {
    match u64::from(seal.sector_size()) {
        s if s == 2 << 10 => RegisteredUpdateProof::StackedDrg2KiBV1,
        s if s == 8 << 20 => RegisteredUpdateProof::StackedDrg8MiBV1,
        s if s == 512 << 20 => RegisteredUpdateProof::StackedDrg512MiBV1,
        s if s == 32 << 30 => RegisteredUpdateProof::StackedDrg32GiBV1,
        _ => RegisteredUpdateProof::StackedDrg64GiBV1,
    }
}

/// A snap upgrade of a sealed sector (its sector key): random deal data is
/// encoded into a new replica with the library's empty-sector update, the
/// same encode the sealing pipeline runs, writing `new_replica` and the new
/// tree-r-last and `p_aux` in `new_cache` (tree-d is cleared, as a
/// finalized update keeps only what proving reads). Returns the new comm_r;
/// the sector key's files are left as they are.
pub fn update_test_sector(
    seal: RegisteredSealProof,
    sector_key: &Path,
    sector_key_cache: &Path,
    new_replica: &Path,
    new_cache: &Path,
    staged: &Path,
) -> CoreResult<Commitment> {
    prepare_paths(new_cache, new_replica)?;
    let key_len = fs::metadata(sector_key)
        .map_err(|e| CoreError::invalid(format!("sector key {}: {e}", sector_key.display())))?
        .len();
    // the encoder maps the new replica for writing: it must exist at full size
    File::create(new_replica)?.set_len(key_len)?;
    let piece = stage_piece(seal, staged, false)?;
    let encoded = empty_sector_update_encode_into(
        update_proof_for(seal),
        new_replica,
        new_cache,
        sector_key,
        sector_key_cache,
        staged,
        &[piece],
    )?;
    clear_cache(new_cache)?;
    fs::remove_file(staged)?;
    Ok(encoded.comm_r_new)
}
