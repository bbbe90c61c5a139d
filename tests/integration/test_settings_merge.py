"""A daemon's settings may be split between its config file and its
command line (the configs say flags override the file): the real
``prover-storage`` and ``prover-worker`` commands run with either half of a
pair in either place, and what is refused still is, the message naming the
setting and where it came from (the file, or the option).

``[lotus_index] api`` needs ``lotus_listen`` (the miner is given that
listener's URL), and ``lotus_listen`` needs ``lotus_token`` or the index:
both checks used to run on the file alone, so a pair split between file and
command line was refused either way round."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fake_lotus_miner import ADMIN, FakeMiner

from manager_harness import StorageHostProcess, WorkerProcess

NO_MANAGER = "worker.0123456789abcdef:127.0.0.1:9"  # announcing: not under test
ENV_API = {"PROVER_API_INFO": NO_MANAGER}


@pytest.fixture
def miner():
    m = FakeMiner().start()
    yield m
    m.stop()


@pytest.fixture
def store(tmp_path) -> Path:
    root = tmp_path / "store"
    for sub in ("sealed", "cache"):
        (root / sub).mkdir(parents=True)
    return root


def _refused(module: str, *args: str) -> str:
    """The error of a daemon that must refuse its settings (exit 1)."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, **ENV_API},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    return " ".join(done.stderr.split())


@pytest.mark.parametrize("in_file", ["index", "listener"])
def test_a_lotus_index_split_between_file_and_command_line_runs(tmp_path, miner, store, in_file):
    config = tmp_path / "storage.toml"
    index_api = miner.api_info(ADMIN)
    if in_file == "index":  # the README's way: the miner in the file, the listener a flag
        config.write_text(f'[lotus_index]\napi = "{index_api}"\n')
        flags = ("--lotus-listen", "127.0.0.1:0")
    else:
        config.write_text('lotus_listen = "127.0.0.1:0"\n')
        flags = ("--lotus-miner-api", index_api)
    h = StorageHostProcess(
        NO_MANAGER, "host-m", {"store-a": store}, args=("--config", str(config), *flags)
    ).start()
    try:
        attached = h.wait_for("lotus_index_attached", 30)
        listening = h.wait_for("http_listening", 5)
        assert attached["url"] == f"http://{listening['listen']}/remote"
        h.signal(signal.SIGTERM)
        h.wait_for("lotus_index_detached", 30)
        assert h.proc.wait(30) == 0
    finally:
        h.kill()


def test_an_index_without_a_listener_is_refused_wherever_it_is_set(tmp_path, miner, store):
    config = tmp_path / "storage.toml"
    config.write_text(f'[lotus_index]\napi = "{miner.api_info(ADMIN)}"\n')
    storage = ("--storage", f"store-a={store}")
    err = _refused("prover.cli.storage_main", "--config", str(config), *storage)
    assert f"[lotus_index] api (from {config}) is set but lotus_listen is not" in err, err
    assert "--lotus-listen" in err  # where the other half may go
    config.write_text('listen = "127.0.0.1:0"\n')
    err = _refused(
        "prover.cli.storage_main",
        *("--config", str(config), "--lotus-miner-api", miner.api_info(ADMIN), *storage),
    )
    assert "[lotus_index] api (from --lotus-miner-api) is set but lotus_listen is not" in err, err


def test_a_listener_without_a_token_or_an_index_is_refused_wherever_it_is_set(tmp_path, store):
    config = tmp_path / "storage.toml"
    config.write_text('lotus_listen = "127.0.0.1:0"\n')
    storage = ("--storage", f"store-a={store}")
    err = _refused("prover.cli.storage_main", "--config", str(config), *storage)
    assert f"lotus_listen (from {config}) is set but lotus_token is not" in err, err
    config.write_text('listen = "127.0.0.1:0"\n')
    err = _refused(
        "prover.cli.storage_main",
        *("--config", str(config), "--lotus-listen", "127.0.0.1:0", *storage),
    )
    assert "lotus_listen (from --lotus-listen) is set but lotus_token is not" in err, err


def test_a_storage_flag_overrides_a_file_value_and_is_checked_itself(tmp_path, store):
    config = tmp_path / "storage.toml"
    config.write_text('listen = "nowhere"\n')
    h = StorageHostProcess(  # its --listen 127.0.0.1:0 replaces the file's
        NO_MANAGER, "host-m", {"store-a": store}, args=("--config", str(config))
    ).start()
    try:
        assert h.wait_for("storage_host_started", 30)["listen"].startswith("127.0.0.1:")
        h.signal(signal.SIGTERM)
        assert h.proc.wait(30) == 0
    finally:
        h.kill()
    config.write_text('listen = "127.0.0.1:0"\n')
    err = _refused("prover.cli.storage_main", "--config", str(config), "--listen", "nowhere")
    assert "listen (from --listen): expected HOST:PORT, got 'nowhere'" in err, err


def test_a_worker_flag_overrides_a_file_value_and_is_checked_itself(tmp_path):
    w = WorkerProcess(
        tmp_path / "w",
        NO_MANAGER,
        metrics_listen="nowhere",
        args=("--metrics-listen", "127.0.0.1:0"),
    ).start()
    try:
        assert w.wait_for("metrics_listening", 60)["listen"].startswith("127.0.0.1:")
        w.signal(signal.SIGTERM)
        assert w.proc.wait(30) == 0
    finally:
        w.kill()
    config = tmp_path / "worker.toml"
    config.write_text('metrics_listen = "127.0.0.1:0"\nconcurrency = 1\n')
    err = _refused(
        "prover.cli.worker_main",
        *("--config", str(config), "--metrics-listen", "nowhere", "--name", "w2"),
    )
    assert "metrics_listen (from --metrics-listen): expected HOST:PORT" in err, err
    config.write_text('metrics_listen = "nowhere"\n')
    err = _refused("prover.cli.worker_main", "--config", str(config), "--name", "w2")
    assert f"metrics_listen (from {config}): expected HOST:PORT" in err, err


def test_each_error_names_where_its_setting_came_from(tmp_path):
    from prover.config import ConfigError
    from prover.settings import Override
    from prover.storage.config import load_storage_config

    config = tmp_path / "storage.toml"
    config.write_text('colour = "red"\n[[storage]]\nname = "a"\npath = "/x"\n')
    given = [
        Override("--storage", "storage", [{"name": "a", "path": "/y"}], extend=True),
        Override("--parallelism", "parallelism", 0),
    ]
    with pytest.raises(ConfigError) as info:
        load_storage_config(config, given)
    msg = str(info.value)
    assert f"storage (from {config} and --storage): storage names repeat" in msg, msg
    assert "parallelism (from --parallelism): " in msg and f"colour (from {config})" in msg, msg
    # from the file alone, errors read as they always did: FILE: key: message
    with pytest.raises(ConfigError, match="^" + re.escape(f"{config}: colour: ")):
        load_storage_config(config)


def test_a_manager_flag_overrides_a_file_value_and_is_checked_itself(tmp_path):
    """``prover-manager daemon run --listen`` replaces a bad ``[api] listen``
    (it used to be refused, the file being checked alone), and a bad
    ``--listen`` is named at once (it used to fail only at bind)."""
    from manager_harness import ManagerProcess

    m = ManagerProcess(tmp_path / "home")
    config = m.home / "config.toml"
    text = config.read_text()
    api_listen = re.compile(r'(?m)^listen = "127\.0\.0\.1:\d+"$')  # [api] comes first
    config.write_text(api_listen.sub('listen = "nowhere"', text, count=1))
    env = {**os.environ, "PROVER_HOME": str(m.home)}
    cmd = [sys.executable, "-m", "prover.cli.manager_main", "daemon", "run"]
    refused = subprocess.run(
        [*cmd, "--listen", "nowhere-either"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "api.listen (from --listen): " in refused.stderr, refused.stderr
    done = subprocess.Popen(
        [*cmd, "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in done.stdout:
            if "manager_started" in line:
                break
        else:
            pytest.fail("the manager did not start")
        done.send_signal(signal.SIGTERM)
        assert done.wait(30) == 0
    finally:
        done.kill()
