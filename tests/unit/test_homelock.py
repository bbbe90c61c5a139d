"""One process per home (``prover.homelock``): the lock another process
holds is refused at once, naming the home, the holder's kind and pid and the
lock file; a holder killed -9 leaves the home free, whatever pid its file
still says. The holder is a small Python child (flock is per open file, so
the kernel, not this test, decides)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from prover.config import ChainConfig, StorageConfig
from prover.devnet import Devnet, DevnetMiner, manager_config_text
from prover.devnet.posts import bitfield_debug
from prover.homelock import (
    DEVNET_LOCK,
    MANAGER_LOCK,
    HomeInUse,
    HomeLock,
    holder,
    lock_devnet_home,
    lock_manager_home,
)


def _hold(home: Path, call: str) -> subprocess.Popen:
    """A child holding ``prover.homelock.<call>`` on ``home`` until killed."""
    code = (
        "import sys, pathlib, prover.homelock as h; "
        f"h.{call}(pathlib.Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def held(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(call: str) -> subprocess.Popen:
        procs.append(_hold(tmp_path, call))
        return procs[-1]

    yield start
    for p in procs:
        p.kill()
        p.wait(10)


def test_a_second_manager_lock_is_refused_naming_the_home_and_the_pid(tmp_path, held):
    first = held("lock_manager_home")
    with pytest.raises(HomeInUse) as refused:
        lock_manager_home(tmp_path)
    message = str(refused.value)
    assert message.startswith(
        f"home {tmp_path} is in use by prover-manager pid {first.pid} "
        f"(lock {tmp_path / MANAGER_LOCK})"
    ), message
    assert message.endswith("PostgreSQL is how to run several managers"), message
    assert holder(tmp_path, MANAGER_LOCK) == f"prover-manager pid {first.pid}"


def test_a_lock_from_a_killed_process_is_free_again(tmp_path, held):
    first = held("lock_manager_home")
    first.kill()
    first.wait(10)
    # the file still names the dead pid; only the flock counts, and it died with it
    assert str(first.pid) in (tmp_path / MANAGER_LOCK).read_text()
    assert holder(tmp_path, MANAGER_LOCK) is None
    lock = lock_manager_home(tmp_path)
    try:
        assert (tmp_path / MANAGER_LOCK).read_text().split()[0] != str(first.pid)
    finally:
        lock.release()


def test_two_locks_in_one_process_conflict_and_a_release_frees_the_home(tmp_path):
    first = lock_manager_home(tmp_path)
    with pytest.raises(HomeInUse, match=f"prover-manager pid {os.getpid()} "):
        lock_manager_home(tmp_path)
    first.release()
    with HomeLock(tmp_path, MANAGER_LOCK, "prover-manager") as again:
        assert again.held and holder(tmp_path, MANAGER_LOCK) is not None
    assert not again.held and holder(tmp_path, MANAGER_LOCK) is None


def test_the_devnet_lock_names_its_holder_and_is_apart_from_the_manager_lock(tmp_path, held):
    devnet = held("lock_devnet_home")  # as a manager's embedded devnet takes it
    with pytest.raises(HomeInUse) as refused:
        lock_devnet_home(tmp_path, "prover devnet run")
    message = str(refused.value)
    assert f"in use by prover-manager pid {devnet.pid} (lock {tmp_path / DEVNET_LOCK})" in message
    assert "[chain] api" in message  # what to do instead: follow it
    # a manager on PostgreSQL takes no manager lock; one on SQLite may still
    # take its own while another process runs the chain
    lock_manager_home(tmp_path).release()


def test_a_refusal_reads_as_the_actors_bitfield():
    assert bitfield_debug([0]) == "BitField { ranges: [0..1], set: {}, unset: {} }"
    assert bitfield_debug([3, 0, 1]) == "BitField { ranges: [0..2, 3..4], set: {}, unset: {} }"


def test_the_printed_manager_config_is_a_valid_chain_section(tmp_path):
    from prover.chain.deadlines import Policy

    miners = [DevnetMiner(m, 5, 0, {}, {}) for m in (1001, 1000)]
    net = Devnet(miners, Policy.devnet(challenge_window=6))
    text = manager_config_text(net, "tok:http://127.0.0.1:5/rpc/v1", tmp_path / "store")
    data = tomllib.loads(text)
    chain = ChainConfig.model_validate(data["chain"])
    assert chain.api == "tok:http://127.0.0.1:5/rpc/v1" and chain.network == "t"
    assert chain.miners == [1000, 1001] and chain.confidence == 1
    assert chain.epoch_seconds == net.policy.epoch_seconds and chain.poll_interval_s <= 0.5
    (storage,) = [StorageConfig.model_validate(s) for s in data["storage"]]
    assert storage.name == "devnet" and storage.path == tmp_path / "store"
