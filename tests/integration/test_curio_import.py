"""``prover-manager config import-curio`` against a real PostgreSQL holding
Curio's tables as its migrations create them (tests/data/curio: schema
curio, the stock layers, a base layer as Curio writes it, two machines).
Each test has a database of its own (the pg_url fixture); the URL has no
search_path, as an operator's has not."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from prover.chain.message import ATTO_PER_FIL
from prover.cli.manager_main import cli
from prover.config import load_manager_config

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "curio" / "harmony_config.sql"


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def curio_db(pg_url):
    """A database as Curio leaves it."""
    with psycopg.connect(_plain(pg_url), autocommit=True) as conn:
        conn.execute(FIXTURE.read_text())
    return _plain(pg_url)


def _sql(url: str, statement: str, *args) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, args)


def _run(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), "config", "import-curio", *args])


def test_the_command_writes_a_config_the_manager_loads(curio_db, tmp_path):
    _sql(
        curio_db,
        "UPDATE curio.harmony_config SET config = config || %s WHERE title = 'post'",
        '\n[Fees]\nMaxWindowPoStGasFee = "0.5 FIL"\n[Proving]\nParallelCheckLimit = 8\n',
    )
    home = tmp_path / "home"
    run = _run(home, "--db", curio_db, "--layers", "post")
    assert run.exit_code == 0, run.output
    config = load_manager_config(home / "config.toml")
    assert config.chain.miners == [1000, 1001]
    assert config.chain.network == "f"
    assert config.chain.api == "eyJhbGciOiJIUzI1NiJ9.chain:/ip4/10.0.0.5/tcp/1234/http"
    assert config.chain.max_window_post_gas_fee == ATTO_PER_FIL // 2
    assert config.chain.max_recovery_gas_fee == ATTO_PER_FIL // 2
    assert config.chain.recovery_check_parallelism == 8
    assert config.chain.recovery_check_timeout_s == 600.0  # Curio's default, commented in base
    assert (config.chain.use_control_addresses, config.chain.use_worker) == (True, True)
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600  # it holds a token
    text = (home / "config.toml").read_text()
    assert "# Curio settings not carried over, and why:" in text
    out = run.output
    assert "[chain] recovery_check_parallelism = 8  <- Curio [Proving] ParallelCheckLimit" in out
    assert "[Proving] PartitionCheckTimeout" in out.split("not mapped:")[1]
    assert "enabled in the stack base,post by the layer 'post'" in out
    assert "machine 10.0.0.11:12300 runs WdPost with the layers base,post" in out
    assert "eyJhbGciOiJIUzI1NiJ9" not in out  # the node's token is not printed
    assert "c2VjcmV0IHRoYXQgaXMgbm90IG9uZQ" not in out  # nor the storage secret

    again = _run(home, "--db", curio_db, "--layers", "post")
    assert again.exit_code == 1 and "exists; pass --force" in again.output
    assert _run(home, "--db", curio_db, "--layers", "post", "--force").exit_code == 0


def test_without_layers_the_window_post_machines_stack_is_used(curio_db, tmp_path):
    out = tmp_path / "manager.toml"
    run = _run(tmp_path, "--db", curio_db, "--output", str(out))
    assert run.exit_code == 0, run.output
    assert "layers: base, post, those of the machines that run WdPost" in run.output
    assert not (tmp_path / "secret").exists()  # --output: the home is not touched


@pytest.mark.parametrize(
    ("setup", "layers", "message"),
    [
        ("", "wdpost", "no layer 'wdpost' in curio.harmony_config"),
        (
            "INSERT INTO curio.harmony_config (title, config) VALUES ('broken', '[Fees')",
            "broken",
            "the layer 'broken' in curio.harmony_config is not valid TOML",
        ),
        (
            "UPDATE curio.harmony_config SET config = replace(config, '\"f01001\"', '\"f2xyz\"') "
            "WHERE title = 'base'",
            "post",
            "'f2xyz' is not a miner's ID address",
        ),
        ("DROP TABLE curio.harmony_config CASCADE", "post", "has no table harmony_config"),
        ("DROP SCHEMA curio CASCADE", "post", "has no schema 'curio'"),
    ],
)
def test_bad_input_is_named_and_nothing_written(curio_db, tmp_path, setup, layers, message):
    if setup:
        _sql(curio_db, setup)
    out = tmp_path / "manager.toml"
    run = _run(tmp_path, "--db", curio_db, "--layers", layers, "--output", str(out))
    assert run.exit_code == 1, run.output
    assert message in run.output
    assert not out.exists()


def test_an_unreachable_database_is_named(tmp_path):
    run = _run(tmp_path, "--db", "postgresql://curio:pw@127.0.0.1:9/yugabyte")
    assert run.exit_code == 1
    assert "cannot connect to Curio's database at postgresql://curio:***@127.0.0.1:9/yugabyte" in (
        run.output
    )
    assert not (tmp_path / "config.toml").exists()
