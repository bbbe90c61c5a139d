//! Baseline for `bench/`: times the steps of one partition proof in Rust
//! alone, over sectors the benchmark made, so that the Python layer's
//! overhead is measured against the same work in the same run.
//!
//! usage: post_timings PROOF_TYPE RANDOMNESS_HEX PROVER_ID_HEX PARALLELISM ROUNDS \
//!        SECTOR_ID:COMM_R_HEX:SEALED_PATH:CACHE_DIR ...
//! prints one JSON object per round: {"challenges": s, "vanilla": s, "snark": s,
//! "verify": s, "total": s, "verified": bool}
//! Build with `--no-default-features` (no Python needed).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use _native::post::{self, Replica};
use _native::types::{bytes32, post_proof};

fn hex32(s: &str) -> [u8; 32] {
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect();
    bytes32("hex argument", &bytes).expect("32 bytes")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(args.len() >= 6, "see the usage in the source header");
    let proof = post_proof(&args[0]).expect("proof type");
    let randomness = hex32(&args[1]);
    let prover_id = hex32(&args[2]);
    let parallelism: usize = args[3].parse().expect("parallelism");
    let rounds: usize = args[4].parse().expect("rounds");
    let replicas: Vec<Replica> = args[5..]
        .iter()
        .map(|spec| {
            let parts: Vec<&str> = spec.splitn(4, ':').collect();
            Replica {
                sector_id: parts[0].parse().expect("sector id"),
                comm_r: hex32(parts[1]),
                sealed: PathBuf::from(parts[2]),
                cache: PathBuf::from(parts[3]),
            }
        })
        .collect();
    let ids: Vec<u64> = replicas.iter().map(|r| r.sector_id).collect();
    let public: Vec<(u64, [u8; 32])> = replicas.iter().map(|r| (r.sector_id, r.comm_r)).collect();

    for _ in 0..rounds {
        let t0 = Instant::now();
        let challenges = post::challenges(proof, randomness, prover_id, &ids).expect("challenges");
        let t1 = Instant::now();
        // Same shape as the Python layer: a bounded pool of threads, each
        // taking the next sector, results kept in sector order.
        let next = Mutex::new(0usize);
        let results: Vec<Mutex<Option<Vec<u8>>>> =
            replicas.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..parallelism.max(1).min(replicas.len()) {
                s.spawn(|| loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        let i = *n;
                        *n += 1;
                        i
                    };
                    if i >= replicas.len() {
                        break;
                    }
                    let r = &replicas[i];
                    let v = post::vanilla(proof, r, &challenges[&r.sector_id]).expect("vanilla");
                    *results[i].lock().unwrap() = Some(v);
                });
            }
        });
        let vanilla: Vec<Vec<u8>> = results
            .into_iter()
            .map(|m| m.into_inner().unwrap().unwrap())
            .collect();
        let t2 = Instant::now();
        let snark = post::snark(proof, randomness, prover_id, &vanilla, 0).expect("snark");
        let t3 = Instant::now();
        let ok = post::verify(proof, randomness, prover_id, &public, &snark).expect("verify");
        let t4 = Instant::now();
        println!(
            "{{\"challenges\": {:.6}, \"vanilla\": {:.6}, \"snark\": {:.6}, \"verify\": {:.6}, \"total\": {:.6}, \"verified\": {}}}",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            (t4 - t3).as_secs_f64(),
            (t4 - t0).as_secs_f64(),
            ok
        );
    }
}
