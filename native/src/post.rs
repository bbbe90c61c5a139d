//! The four steps of a WindowPoSt partition, each a thin checked call into
//! filecoin-proofs-api: challenges, one vanilla proof per sector (disk), the
//! partition SNARK (GPU or CPU), and the chain's verifier.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use bellperson::groth16;
use blstrs::Bls12;
use filecoin_hashers::{HashFunction, Hasher};
use filecoin_proofs::parameters::window_post_setup_params;
use filecoin_proofs::{
    as_safe_commitment, with_shape, FallbackPoStSectorProof, MerkleTreeTrait, PoStConfig,
};
use filecoin_proofs_api::post::{
    generate_fallback_sector_challenges, generate_single_vanilla_proof,
    generate_single_window_post_with_vanilla, merge_window_post_partition_proofs,
    verify_window_post,
};
use filecoin_proofs_api::{
    ChallengeSeed, Commitment, PartitionSnarkProof, PrivateReplicaInfo, ProverId,
    PublicReplicaInfo, RegisteredPoStProof, SectorId,
};
use storage_proofs_core::proof::ProofScheme;
use storage_proofs_post::fallback::{self, FallbackPoSt};

use crate::error::{guard, CoreError, CoreResult};
use crate::params;
use crate::sectors::check_replica_files;

/// Bytes of one partition's Groth16 proof.
pub const PARTITION_PROOF_LEN: usize = 192;

pub fn challenges(
    proof: RegisteredPoStProof,
    randomness: ChallengeSeed,
    prover_id: ProverId,
    sector_ids: &[u64],
) -> CoreResult<BTreeMap<u64, Vec<u64>>> {
    if sector_ids.is_empty() {
        return Err(CoreError::invalid("sector_ids is empty"));
    }
    let unique: BTreeSet<u64> = sector_ids.iter().copied().collect();
    if unique.len() != sector_ids.len() {
        return Err(CoreError::invalid("sector_ids contains duplicates"));
    }
    let ids: Vec<SectorId> = sector_ids.iter().map(|&n| SectorId::from(n)).collect();
    let map = generate_fallback_sector_challenges(proof, &randomness, &ids, prover_id)?;
    Ok(map.into_iter().map(|(id, c)| (u64::from(id), c)).collect())
}

pub struct Replica {
    pub sector_id: u64,
    pub comm_r: Commitment,
    pub sealed: PathBuf,
    pub cache: PathBuf,
}

/// A vanilla proof, or a `SectorFault` naming the sector and what is wrong
/// with its files; nothing about one sector may fail the whole partition.
pub fn vanilla(
    proof: RegisteredPoStProof,
    replica: &Replica,
    challenges: &[u64],
) -> CoreResult<Vec<u8>> {
    if challenges.is_empty() {
        return Err(CoreError::invalid(format!(
            "no challenges given for sector {}",
            replica.sector_id
        )));
    }
    let id = replica.sector_id;
    check_replica_files(proof, id, &replica.sealed, &replica.cache)?;
    let info = PrivateReplicaInfo::new(
        proof,
        replica.comm_r,
        replica.cache.clone(),
        replica.sealed.clone(),
    );
    let as_fault = |e: CoreError| match e {
        CoreError::Proof(msg) => CoreError::fault(id, msg),
        other => other,
    };
    let bytes = guard(AssertUnwindSafe(|| {
        Ok(generate_single_vanilla_proof(
            proof,
            SectorId::from(id),
            &info,
            challenges,
        )?)
    }))
    .map_err(as_fault)?;
    let size = u64::from(proof.sector_size());
    let matches = guard(AssertUnwindSafe(|| {
        Ok(with_shape!(size, comm_r_matches, &bytes)?)
    }))
    .map_err(as_fault)?;
    if !matches {
        return Err(CoreError::fault(
            id,
            "p_aux does not match comm_r: H(comm_c, comm_r_last) differs from the sector's comm_r",
        ));
    }
    Ok(bytes)
}

/// The library checks each Merkle path against comm_r_last from `p_aux`,
/// but not that `p_aux` belongs to this comm_r; the SNARK would then fail
/// for the whole partition. Checking here pins the fault on the sector.
fn comm_r_matches<Tree: 'static + MerkleTreeTrait>(bytes: &[u8]) -> anyhow::Result<bool> {
    let proof: FallbackPoStSectorProof<Tree> = bincode::deserialize(bytes)?;
    Ok(proof.vanilla_proof.sectors.iter().all(|s| {
        <<Tree::Hasher as Hasher>::Function as HashFunction<_>>::hash2(&s.comm_c, &s.comm_r_last)
            == proof.comm_r
    }))
}

/// Checks one sector's vanilla proof the way the chain's verifier checks
/// each sector inside the SNARK: for `sector_id` and `comm_r`,
/// H(comm_c, comm_r_last) is comm_r, and each Merkle path proves the leaf
/// that `randomness` challenges, with the path length of the sector size.
/// For `prover sectors check`, where building a SNARK per sector would cost
/// a GPU: bytes that do not decode are a `false`, not an error.
pub fn verify_vanilla(
    proof: RegisteredPoStProof,
    randomness: ChallengeSeed,
    prover_id: ProverId,
    sector_id: u64,
    comm_r: Commitment,
    bytes: &[u8],
) -> CoreResult<bool> {
    let size = u64::from(proof.sector_size());
    let config = proof.as_v1_config();
    guard(AssertUnwindSafe(|| {
        Ok(with_shape!(
            size,
            verify_vanilla_inner,
            &config,
            &randomness,
            &prover_id,
            sector_id,
            &comm_r,
            bytes
        )?)
    }))
}

fn verify_vanilla_inner<Tree: 'static + MerkleTreeTrait>(
    config: &PoStConfig,
    randomness: &ChallengeSeed,
    prover_id: &ProverId,
    sector_id: u64,
    comm_r: &Commitment,
    bytes: &[u8],
) -> anyhow::Result<bool> {
    let Ok(sector) = bincode::deserialize::<FallbackPoStSectorProof<Tree>>(bytes) else {
        return Ok(false);
    };
    let comm_r: <Tree::Hasher as Hasher>::Domain = as_safe_commitment(comm_r, "comm_r")?;
    if u64::from(sector.sector_id) != sector_id || sector.comm_r != comm_r {
        return Ok(false);
    }
    if sector.vanilla_proof.sectors.len() != 1 {
        return Ok(false);
    }
    // one sector alone: with the V1_2 PoSt API the challenges of a sector do
    // not depend on its place in the partition, so a partition of one holds
    let mut params = window_post_setup_params(config);
    params.sector_count = 1;
    let public_params = FallbackPoSt::<Tree>::setup(&params)?;
    let inputs = fallback::PublicInputs {
        randomness: as_safe_commitment(randomness, "randomness")?,
        prover_id: as_safe_commitment(prover_id, "prover_id")?,
        sectors: vec![fallback::PublicSector {
            id: SectorId::from(sector_id),
            comm_r,
        }],
        k: Some(0),
    };
    FallbackPoSt::<Tree>::verify(&public_params, &inputs, &sector.vanilla_proof)
}

pub fn snark(
    proof: RegisteredPoStProof,
    randomness: ChallengeSeed,
    prover_id: ProverId,
    vanilla: &[Vec<u8>],
    partition_index: usize,
) -> CoreResult<Vec<u8>> {
    let max = proof.sector_count();
    if vanilla.is_empty() || vanilla.len() > max {
        return Err(CoreError::invalid(format!(
            "a partition takes 1 to {max} vanilla proofs, got {}",
            vanilla.len()
        )));
    }
    params::require_params(proof)?;
    let out = generate_single_window_post_with_vanilla(
        proof,
        &randomness,
        prover_id,
        vanilla,
        partition_index,
    )?;
    Ok(out.0)
}

pub fn merge(proof: RegisteredPoStProof, proofs: Vec<Vec<u8>>) -> CoreResult<Vec<u8>> {
    if proofs.is_empty() {
        return Err(CoreError::invalid("no partition proofs to merge"));
    }
    if let Some((i, p)) = proofs
        .iter()
        .enumerate()
        .find(|(_, p)| p.len() != PARTITION_PROOF_LEN)
    {
        return Err(CoreError::invalid(format!(
            "partition proof {i} is {} bytes, expected {PARTITION_PROOF_LEN}",
            p.len()
        )));
    }
    let parts = proofs.into_iter().map(PartitionSnarkProof).collect();
    Ok(merge_window_post_partition_proofs(proof, parts)?)
}

/// The chain's check. Sectors are keyed by number exactly as the chain's
/// verifier does (a sorted map), so a skipped sector's substitute, which
/// repeats a good sector, collapses into it.
pub fn verify(
    proof: RegisteredPoStProof,
    randomness: ChallengeSeed,
    prover_id: ProverId,
    sectors: &[(u64, Commitment)],
    proof_bytes: &[u8],
) -> CoreResult<bool> {
    if sectors.is_empty() {
        return Err(CoreError::invalid("no public sectors to verify against"));
    }
    let mut replicas = BTreeMap::new();
    for &(id, comm_r) in sectors {
        let info = PublicReplicaInfo::new(proof, comm_r);
        if let Some(prev) = replicas.insert(SectorId::from(id), info.clone()) {
            if prev != info {
                return Err(CoreError::invalid(format!(
                    "sector {id} appears twice with different comm_r"
                )));
            }
        }
    }
    params::require_vk(proof)?;
    let partitions = replicas.len().div_ceil(proof.sector_count());
    if proof_bytes.len() != partitions * PARTITION_PROOF_LEN {
        return Ok(false);
    }
    // Bytes that do not decode to curve points are an invalid proof, not an
    // error: decode first so that every later error is a real failure.
    for chunk in proof_bytes.chunks(PARTITION_PROOF_LEN) {
        if groth16::Proof::<Bls12>::read(chunk).is_err() {
            return Ok(false);
        }
    }
    Ok(verify_window_post(
        &randomness,
        &[(proof, proof_bytes)],
        &replicas,
        prover_id,
    )?)
}
