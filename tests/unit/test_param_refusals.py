"""What follows from a worker's or the manager's parameter check: which
proof types a worker is handed, the alerts, the worker's own refusals (no
processes, no database: the pure rules and the worker with fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from prover._proto import manager_pb2 as pb
from prover.alerts import rules
from prover.store.workers import ClaimFilter, claim_filter, refused_proof_types
from prover.worker import loop
from prover.worker.admission import GiveBack
from prover.worker.config import WorkerConfig
from prover.worker.pinning import Pinning
from prover.worker.spool import Spool

T0 = datetime(2026, 12, 1, tzinfo=UTC)
PARAMS_2KIB = "v28-proof-of-spacetime-fallback-merkletree-poseidon_hasher-8-0-0-0170db.params"


def problem(proof_type=10, file=PARAMS_2KIB, kind="truncated", detail="10 of 20 bytes"):
    return {"proof_type": proof_type, "file": file, "problem": kind, "detail": detail}


def row(allowed=(), problems=(), miners=()):
    return SimpleNamespace(
        allowed_miners=list(miners), allowed_proof_types=list(allowed), param_problems=problems
    )


def fact(name="w1", allowed=(), problems=(), seen=T0):
    return rules.WorkerFact(
        name, seen, False, (), tuple(allowed), refused_proof_types(problems), tuple(problems)
    )


# ---- which jobs a worker is handed --------------------------------------------------


def test_a_refused_size_is_left_out_under_both_its_chain_ids():
    assert refused_proof_types([problem(10), problem(13, kind="missing")]) == {5, 10, 8, 13}
    assert claim_filter(row()) == ClaimFilter()
    filt = claim_filter(row(problems=[problem(10)]))
    assert filt.proof_types == frozenset(range(5, 15)) - {5, 10} and not filt.nothing
    # allowed 2KiB and 8MiB, 2KiB refused: only 8MiB
    assert claim_filter(row([10, 11], [problem(10)])).proof_types == {11}


def test_a_worker_that_refuses_all_it_may_take_is_handed_nothing():
    filt = claim_filter(row([10], [problem(10)], miners=[1000]))
    assert filt.nothing and filt.miners == {1000}


# ---- alerts -------------------------------------------------------------------------


def test_a_wrong_file_pages_naming_worker_and_file():
    (alert,) = rules.bad_worker_parameters([fact(problems=[problem()])], T0, 15)
    assert alert.name == rules.PARAMETERS_BAD == "ProverParametersBad"
    assert alert.labels == {"worker": "w1", "file": PARAMS_2KIB}
    assert "worker w1 refuses 2KiB proofs" in alert.summary and "truncated" in alert.summary
    assert alert.details["detail"] == "10 of 20 bytes"
    assert rules.PARAMETERS_BAD in rules.ALERT_NAMES


def test_absent_files_page_only_for_sizes_the_worker_was_told_to_prove():
    absent = [problem(13, "v28-32.params", "missing"), problem(13, "v28-32.vk", "missing")]
    assert rules.bad_worker_parameters([fact(problems=absent)], T0, 15) == []
    alerts = rules.bad_worker_parameters([fact(allowed=[13], problems=absent)], T0, 15)
    assert [a.labels["file"] for a in alerts] == ["v28-32.params", "v28-32.vk"]


def test_a_silent_worker_no_longer_pages_for_its_files():
    stale = fact(problems=[problem()], seen=T0 - timedelta(seconds=60))
    assert rules.bad_worker_parameters([stale], T0, 15) == []


def test_no_worker_counts_a_refusing_worker_out():
    refusing = fact(problems=[problem(10)])
    (alert,) = rules.no_capable_worker([(1000, 10)], [refusing], T0, 15)
    assert alert.name == rules.NO_WORKER
    assert rules.no_capable_worker([(1000, 11)], [refusing], T0, 15) == []
    assert rules.no_capable_worker([(1000, 10)], [refusing, fact("w2")], T0, 15) == []


def test_the_managers_own_keys_page_under_its_name():
    own = [problem(10, "a.vk", "wrong digest"), problem(13, "b.vk", "missing")]
    (alert,) = rules.bad_manager_parameters("m1:9700", own)
    assert alert.name == rules.MANAGER_PARAMETERS_BAD
    assert alert.labels == {"manager": "m1:9700", "file": "a.vk"}
    assert "cannot verify 2KiB proofs" in alert.summary
    # an absent key pages once a miner or job uses that size (V1 ids too)
    alerts = rules.bad_manager_parameters("m1:9700", own, in_use=[8])
    assert [a.labels["file"] for a in alerts] == ["a.vk", "b.vk"]


# ---- the worker ---------------------------------------------------------------------


class _Client:
    metadata = ()
    addresses = ("127.0.0.1:1",)
    token = "t"

    def __init__(self) -> None:
        self.registered: list[pb.RegisterRequest] = []
        self.released: list[pb.ReleaseRequest] = []
        self.worker = SimpleNamespace(Register=self._register, Release=self._release)

    def _register(self, request, metadata=None, timeout=None):
        self.registered.append(request)
        return pb.RegisterResponse()

    def _release(self, request, metadata=None, timeout=None):
        self.released.append(request)
        return pb.ReleaseResponse()

    def call(self, method, request, *, timeout: float = 30.0):
        return method(request, metadata=self.metadata, timeout=timeout)


def make_worker(tmp_path, monkeypatch, sizes=(), problems=()):
    monkeypatch.setattr(loop, "gpu_facts", lambda _gpu: [])
    config = WorkerConfig(name="w1", allowed_sizes=list(sizes))
    pinning = Pinning(None, frozenset({0}), tmp_path / "tmp")
    asked = []

    def check(types):
        asked.append(list(types))
        return list(problems)

    w = loop.Worker(config, _Client(), pinning, Spool(tmp_path / "spool"), param_check=check)
    return w, asked


def test_the_worker_checks_what_it_may_take_and_names_its_refusals_at_register(
    tmp_path, monkeypatch
):
    w, asked = make_worker(tmp_path, monkeypatch, problems=[problem(10)])
    w.check_parameters()
    assert asked == [[10, 11, 12, 13, 14]]  # no allowed_sizes: every size
    assert w.refused_proof_types == {10, 5}
    w.register()
    (req,) = w.client.registered
    (sent,) = req.param_problems
    assert (sent.proof_type, sent.file, sent.problem) == (10, PARAMS_2KIB, "truncated")
    w2, asked2 = make_worker(tmp_path, monkeypatch, sizes=["32GiB"])
    w2.check_parameters()
    assert asked2 == [[13]] and w2.refused_proof_types == frozenset()


def test_a_job_of_a_refused_size_handed_over_anyway_is_given_back_naming_the_file(
    tmp_path, monkeypatch
):
    w, _ = make_worker(tmp_path, monkeypatch, problems=[problem(10)])
    w.check_parameters()
    job = pb.Job(id=7, attempt=1, proof_type=10)
    rec = w.holdings.hold(job, w.slots[0])
    why = w.admission.admit(rec)
    assert why == GiveBack(
        f"worker refuses 2KiB proofs, its parameter files are wrong: {PARAMS_2KIB} truncated",
        exclude=True,
    )
    w.proving.end(rec, why)  # the one way a job goes back
    (rel,) = w.client.released
    assert rel.job_id == 7 and rel.reason == why.reason
    assert w.claims.excluded == {7} and w.held() == []


def test_a_failing_check_never_stops_the_worker(tmp_path, monkeypatch):
    w, _ = make_worker(tmp_path, monkeypatch)

    def broken(types):
        raise RuntimeError("no native module")

    w.params.check = broken
    w.check_parameters()
    assert w.param_problems == [] and w.refused_proof_types == frozenset()
