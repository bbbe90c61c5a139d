"""Long native calls release the GIL: threads prove at once, and a heartbeat
thread keeps beating while a SNARK runs."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from conftest import KIB2
from prover.proofs import (
    generate_challenges,
    mask_randomness,
    partition_snark,
    prove_partition,
    vanilla_proof,
    verify_window_post,
)


def test_five_threads_proving_at_once_give_five_valid_proofs(make_sectors, pid):
    replicas = make_sectors(range(1, 11))
    jobs = [
        (mask_randomness(secrets.token_bytes(32)), replicas[2 * i : 2 * i + 2], i) for i in range(5)
    ]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(
            pool.map(lambda job: prove_partition(KIB2, job[0], pid, job[1], job[2]), jobs)
        )
    assert len({r.proof for r in results}) == 5
    for (randomness, _, _), result in zip(jobs, results, strict=True):
        assert verify_window_post(KIB2, randomness, pid, result.public_sectors, result.proof)


def test_a_heartbeat_thread_runs_during_a_snark(make_sectors, randomness, pid):
    replicas = make_sectors([1, 2])
    challenges = generate_challenges(KIB2, randomness, pid, [1, 2])
    vanilla = [vanilla_proof(KIB2, r, challenges[r.sector_id]) for r in replicas]

    beats = 0
    snark_running = threading.Event()
    stop = threading.Event()

    def heartbeat():
        nonlocal beats
        snark_running.wait()
        while not stop.wait(0.01):
            beats += 1

    t = threading.Thread(target=heartbeat)
    t.start()
    snark_running.set()
    try:
        proof = partition_snark(KIB2, randomness, pid, vanilla, 0)
        beats_during_snark = beats
    finally:
        stop.set()
        t.join()
    assert verify_window_post(KIB2, randomness, pid, [r.public for r in replicas], proof)
    # A 2KiB SNARK takes about a second on CPU: a thread that could not run
    # would have beaten at most once or twice.
    assert beats_during_snark >= 10
