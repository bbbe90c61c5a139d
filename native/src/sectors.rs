//! Replica files on disk: the checks that turn a bad sector into a clear
//! `SectorFault` before the library touches it, and the two ways of making
//! provable test replicas (fauxrep, or a real PC1 + PC2 seal).

use std::fs::{self, File, OpenOptions};
use std::io::Cursor;
use std::path::Path;

use filecoin_proofs_api::seal::{
    add_piece, clear_cache, fauxrep, seal_pre_commit_phase1, seal_pre_commit_phase2,
};
use filecoin_proofs_api::{
    Commitment, PaddedBytesAmount, RegisteredPoStProof, RegisteredSealProof, SectorId,
    UnpaddedBytesAmount,
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

/// A genuinely sealed sector holding random data: add_piece, PC1, PC2, then
/// the cache is cleared down to what proving reads, as a finalized sector.
pub fn seal_random_sector(
    seal: RegisteredSealProof,
    sector_id: u64,
    prover_id: [u8; 32],
    cache: &Path,
    sealed: &Path,
    staged: &Path,
) -> CoreResult<Commitment> {
    prepare_paths(cache, sealed)?;
    let padded = PaddedBytesAmount(u64::from(seal.sector_size()));
    let unpadded = UnpaddedBytesAmount::from(padded);
    let mut rng = rand::thread_rng();
    let mut data = vec![0u8; u64::from(unpadded) as usize];
    rng.fill_bytes(&mut data);
    let mut ticket = [0u8; 32];
    rng.fill_bytes(&mut ticket);

    let staged_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(staged)?;
    let (piece, _) = add_piece(seal, Cursor::new(data), staged_file, unpadded, &[])?;
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
