"""A worker's parameter problems in the real store (SQLite and PostgreSQL):
kept with the worker, no job of a refused proof type handed to it, others'
jobs still are; the alert watch pages naming worker and file; a manager
with a bad verifying key does not verify that size's proofs."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from conftest import job_spec
from prover.alerts import AlertBook
from prover.alerts import rules as r
from prover.config import AlertsConfig
from prover.manager.alert_watch import AlertWatch
from prover.manager.dispatch import Dispatcher
from prover.manager.finish import CannotVerify, Report, accept
from prover.proofs import PoStProofType

KIB2, MIB8 = PoStProofType.WINDOW_2KIB, PoStProofType.WINDOW_8MIB
FILE = "v28-proof-of-spacetime-fallback-merkletree-poseidon_hasher-8-0-0-0170db.params"
TRUNCATED = {"proof_type": 10, "file": FILE, "problem": "truncated", "detail": "1 of 2 bytes"}


def add(store, *specs) -> list[int]:
    return [job_id for job_id, _ in store.add_jobs(list(specs))]


def test_problems_are_kept_with_the_worker_and_replaced_at_register(store, workers):
    workers.register("w1", param_problems=[TRUNCATED])
    assert workers.get("w1").param_problems == [TRUNCATED]
    workers.register("w1")  # mended, started again
    assert workers.get("w1").param_problems == []


def test_a_refusing_worker_is_not_handed_that_size_others_are(store, workers):
    kib2, mib8 = add(store, job_spec(0), dataclasses.replace(job_spec(1), proof_type=MIB8.chain_id))
    workers.register("w1", param_problems=[TRUNCATED])
    workers.register("w2")
    assert store.claim("w1").id == mib8
    assert store.claim("w1") is None
    assert store.claim("w2").id == kib2


def test_a_worker_refusing_every_size_it_may_take_gets_nothing(store, workers):
    add(store, job_spec(0))
    workers.register("w1", allowed_proof_types=[10], param_problems=[TRUNCATED])
    assert store.claim("w1") is None
    assert store.get(1).state == "ready"


def test_the_dispatcher_does_not_let_a_refusal_hold_back_another_worker(store, workers):
    workers.register("w1", param_problems=[TRUNCATED])
    workers.register("w2")
    d = Dispatcher(poll_interval=60.0)  # passes on kicks only
    d.start(store, workers)
    got: dict[str, object] = {}
    threads = []
    try:
        for name in ("w1", "w2"):  # w1 waits first: its pass finds nothing for it
            t = threading.Thread(
                target=lambda n=name: got.update({n: d.claim(n, 8.0, lambda: True)})
            )
            t.start()
            threads.append(t)
            time.sleep(0.2)
        (kib2,) = add(store, job_spec(0))
        began = time.monotonic()
        d.kick()
        threads[1].join(8)
        assert got["w2"] is not None and got["w2"].id == kib2
        assert time.monotonic() - began < 5  # in the kick's pass, not the next poll
    finally:
        d.stop()
        for t in threads:
            t.join(10)
    assert got["w1"] is None


def test_the_watch_pages_for_the_worker_and_file_then_resolves(store, workers, ledger, clock):
    watch = AlertWatch(
        AlertsConfig(),
        AlertBook(),
        store,
        ledger,
        None,
        workers=workers,
        epoch=lambda: None,
        epoch_seconds=30.0,
        worker_live_s=15.0,
        now=clock,
    )
    workers.register("w1", param_problems=[TRUNCATED])
    (fired,) = watch.check()
    assert fired.name == r.PARAMETERS_BAD and fired.labels == {"worker": "w1", "file": FILE}
    assert watch.check() == []  # fires once
    workers.register("w1")
    (resolved,) = watch.check()
    assert resolved.name == r.PARAMETERS_BAD and resolved.resolved


def test_the_managers_own_bad_key_pages_on_a_standby_too(store, workers, ledger, clock):
    own = [dict(TRUNCATED, file="k.vk")]
    watch = AlertWatch(
        AlertsConfig(),
        AlertBook(),
        store,
        ledger,
        None,
        workers=workers,
        epoch=lambda: None,
        epoch_seconds=30.0,
        worker_live_s=15.0,
        own_parameters=own,
        name=lambda: "m1:9700",
        now=clock,
    )
    (fired,) = watch.check(leading=False)
    assert fired.name == r.MANAGER_PARAMETERS_BAD
    assert fired.labels == {"manager": "m1:9700", "file": "k.vk"}
    assert watch.check(leading=True) == []  # the same alert, held


def test_a_size_whose_key_the_manager_found_wrong_is_not_verified(store, workers):
    (job_id,) = add(store, job_spec(0))
    workers.register("w1")
    job = store.claim("w1")
    report = Report("w1", job_id, job.attempt, True, proof=bytes(192))
    with pytest.raises(CannotVerify, match=r"k\.vk is truncated"):
        accept(store, report, {10: "its verifying key k.vk is truncated"})
    assert store.get(job_id).state == "running"  # the worker keeps its result
