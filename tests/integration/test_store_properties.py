"""Random sequences of claims, heartbeats, finishes, sweeps, resets, removes
and clock moves never break the table's invariants: a job never has two
holders, attempts only grow, nothing is lost, every state reached is legal."""

from __future__ import annotations

import contextlib
import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from conftest import FakeClock, job_spec
from prover.store import JobState, JobStore, TransitionRefused, UnknownJob

WORKERS = st.sampled_from(["w1", "w2", "w3"])

# Transitions the store may make without an operator's reset.
LEGAL = {
    (JobState.READY, JobState.RUNNING),
    (JobState.READY, JobState.EXPIRED),
    (JobState.RUNNING, JobState.SUCCEEDED),
    (JobState.RUNNING, JobState.READY),
    (JobState.RUNNING, JobState.FAILED),
    (JobState.RUNNING, JobState.EXPIRED),
}


class JobTable(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="prover-prop-")
        self.clock = FakeClock()
        self.epoch = 0
        self.store = JobStore.open(
            f"sqlite:///{self.dir}/jobs.db",
            clock=self.clock,
            heartbeat_timeout=15,
            max_tries=2,
        )
        self.partitions = 0
        self.known: dict[int, JobState] = {}  # what the table should hold
        self.attempts: dict[int, int] = {}
        self.held: dict[str, dict[int, int]] = {"w1": {}, "w2": {}, "w3": {}}
        self.reset_ids: set[int] = set()

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _snapshot(self) -> dict[int, JobState]:
        return {j.id: JobState(j.state) for j in self.store.list_jobs()}

    def _check_transitions(self) -> None:
        now = self._snapshot()
        for job_id, before in self.known.items():
            if job_id not in now:
                # only removal or the lifetime sweep delete rows
                raise AssertionError(f"job {job_id} lost (was {before})")
            after = now[job_id]
            if after != before and job_id not in self.reset_ids:
                assert (before, after) in LEGAL, f"job {job_id}: {before} -> {after}"
        self.known = now
        self.reset_ids.clear()

    @rule(close_in=st.integers(min_value=1, max_value=20))
    def add(self, close_in):
        ((job_id, created),) = self.store.add_jobs(
            [job_spec(self.partitions, close_epoch=self.epoch + close_in)]
        )
        assert created
        self.partitions += 1
        self.known[job_id] = JobState.READY
        self._check_transitions()

    @rule(worker=WORKERS)
    def claim(self, worker):
        before = self._snapshot()
        job = self.store.claim(worker, epoch=self.epoch)
        if job is not None:
            assert before[job.id] == JobState.READY, "claimed a job that was not ready"
            assert job.attempt > self.attempts.get(job.id, 0)
            self.held[worker][job.id] = job.attempt
        self._check_transitions()

    @rule(worker=WORKERS)
    def heartbeat(self, worker):
        stops = self.store.heartbeat(worker, list(self.held[worker].items()))
        for stop in stops:
            self.held[worker].pop(stop.job_id, None)
        self._check_transitions()

    @rule(worker=WORKERS, success=st.booleans())
    def finish(self, worker, success):
        if not self.held[worker]:
            return
        job_id, attempt = next(iter(self.held[worker].items()))
        with contextlib.suppress(TransitionRefused, UnknownJob):
            self.store.finish(worker, job_id, attempt, success=success, proof=b"p", error="e")
        self.held[worker].pop(job_id)
        self._check_transitions()

    @rule(
        worker=WORKERS,
        job=st.integers(min_value=1, max_value=30),
        attempt=st.integers(min_value=0, max_value=10),
    )
    def stray_finish(self, worker, job, attempt):
        """A finish from nowhere must change nothing unless it is the holder's."""
        holder_attempt = self.held[worker].get(job)
        before = self._snapshot()
        try:
            self.store.finish(worker, job, attempt, success=True, proof=b"p")
        except (TransitionRefused, UnknownJob):
            assert self._snapshot() == before
        else:
            row = self.store.get(job)
            assert holder_attempt == attempt or row.finished_attempt == attempt
        self._check_transitions()

    @rule(seconds=st.sampled_from([1, 5, 16, 60]))
    def time_passes(self, seconds):
        self.clock.advance(seconds)

    @rule(epochs=st.integers(min_value=1, max_value=5))
    def chain_advances(self, epochs):
        self.epoch += epochs

    @rule()
    def sweep(self):
        self.store.sweep_heartbeats()
        self.store.sweep_deadlines(self.epoch)
        deleted = self.store.sweep_lifetime()
        assert deleted == 0  # the clock never runs 25 h in these sequences
        self._check_transitions()

    @precondition(lambda self: self.known)
    @rule(data=st.data())
    def reset(self, data):
        job_id = data.draw(st.sampled_from(sorted(self.known)))
        assert self.store.reset([job_id]) == {job_id: None}
        self.reset_ids.add(job_id)
        self._check_transitions()

    @precondition(lambda self: self.known)
    @rule(data=st.data())
    def remove(self, data):
        job_id = data.draw(st.sampled_from(sorted(self.known)))
        assert self.store.remove([job_id]) == {job_id: None}
        del self.known[job_id]
        self._check_transitions()

    @invariant()
    def legal_rows(self):
        running_by = {}
        for job in self.store.list_jobs(proofs=True):
            state = JobState(job.state)
            assert job.attempt >= self.attempts.get(job.id, 0), "attempt went down"
            self.attempts[job.id] = job.attempt
            assert 0 <= job.tries <= job.max_tries
            if state == JobState.RUNNING:
                assert job.worker and job.heartbeat_at is not None
                running_by[job.id] = (job.worker, job.attempt)
            if state == JobState.SUCCEEDED:
                assert job.proof
            if state == JobState.READY:
                assert job.proof is None
        # one holder per running job: only the worker named on the row, with
        # the row's attempt, is told to keep going
        for job_id, (worker, attempt) in running_by.items():
            keepers = [w for w in self.held if self.held[w].get(job_id) == attempt and w == worker]
            assert len(keepers) <= 1


JobTable.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestJobTable = JobTable.TestCase
