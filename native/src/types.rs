//! Conversions from Python values into the library's types, done before the
//! GIL is released so that bad input is rejected with a clear message and
//! never reaches code that would panic on it.

use blstrs::Scalar;
use filecoin_proofs_api::{RegisteredPoStProof, RegisteredSealProof};

use crate::error::{CoreError, CoreResult};

/// The WindowPoSt proof types this crate proves: the V1_2 variants, which
/// filecoin-ffi uses for the chain's `StackedDrgWindow*V1_1` ids.
pub const WINDOW_POST_TYPES: [(&str, RegisteredPoStProof); 5] = [
    (
        "StackedDrgWindow2KiBV1_2",
        RegisteredPoStProof::StackedDrgWindow2KiBV1_2,
    ),
    (
        "StackedDrgWindow8MiBV1_2",
        RegisteredPoStProof::StackedDrgWindow8MiBV1_2,
    ),
    (
        "StackedDrgWindow512MiBV1_2",
        RegisteredPoStProof::StackedDrgWindow512MiBV1_2,
    ),
    (
        "StackedDrgWindow32GiBV1_2",
        RegisteredPoStProof::StackedDrgWindow32GiBV1_2,
    ),
    (
        "StackedDrgWindow64GiBV1_2",
        RegisteredPoStProof::StackedDrgWindow64GiBV1_2,
    ),
];

pub fn post_proof(name: &str) -> CoreResult<RegisteredPoStProof> {
    WINDOW_POST_TYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            let known: Vec<&str> = WINDOW_POST_TYPES.iter().map(|(n, _)| *n).collect();
            CoreError::invalid(format!(
                "unknown WindowPoSt proof type {name:?}; expected one of {}",
                known.join(", ")
            ))
        })
}

/// The seal proof type whose replicas a WindowPoSt type proves (same tree shape).
pub fn seal_proof_for(post: RegisteredPoStProof) -> RegisteredSealProof {
    use RegisteredPoStProof::*;
    match post {
        StackedDrgWindow2KiBV1_2 => RegisteredSealProof::StackedDrg2KiBV1_1,
        StackedDrgWindow8MiBV1_2 => RegisteredSealProof::StackedDrg8MiBV1_1,
        StackedDrgWindow512MiBV1_2 => RegisteredSealProof::StackedDrg512MiBV1_1,
        StackedDrgWindow32GiBV1_2 => RegisteredSealProof::StackedDrg32GiBV1_1,
        _ => RegisteredSealProof::StackedDrg64GiBV1_1,
    }
}

pub fn bytes32(what: &str, bytes: &[u8]) -> CoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| CoreError::invalid(format!("{what} must be 32 bytes, got {}", bytes.len())))
}

/// 32 bytes that must also be a canonical BLS12-381 scalar (little endian),
/// as the circuit requires of randomness, prover ids and commitments.
pub fn scalar32(what: &str, bytes: &[u8]) -> CoreResult<[u8; 32]> {
    let arr = bytes32(what, bytes)?;
    if bool::from(Scalar::from_bytes_le(&arr).is_none()) {
        return Err(CoreError::invalid(format!(
            "{what} is not a canonical BLS12-381 scalar (last byte {:#04x}); \
             mask it first (byte 31 &= 0x3f)",
            arr[31]
        )));
    }
    Ok(arr)
}

pub fn comm_r(sector_id: u64, bytes: &[u8]) -> CoreResult<[u8; 32]> {
    let arr = scalar32(&format!("comm_r of sector {sector_id}"), bytes)?;
    if arr == [0u8; 32] {
        return Err(CoreError::invalid(format!(
            "comm_r of sector {sector_id} is all zeros"
        )));
    }
    Ok(arr)
}
