"""``prover-manager config import-lotus``: a lotus-miner repo as Lotus writes
it (tests/data/lotus: config.toml with every default commented out and some
keys set, sectorstore.json files, storage.json written here with this
machine's paths) becomes a manager config that our loader accepts; each
Lotus key lands on its counterpart, converted, or is printed with the
reason it has none. The miner and full nodes are fakes over loopback HTTP
that answer in Lotus' JSON."""

from __future__ import annotations

import json
import shutil
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from prover.chain.message import ATTO_PER_FIL
from prover.cli.manager_main import cli
from prover.config import default_config_text, load_manager_config
from prover.lotusimport import (
    LotusImportError,
    Nodes,
    import_repo,
    miner_url,
    parse_go_duration,
    parse_lotus_fil,
    render,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "lotus"
REPO_ID = "3f1a6e0c-7d2b-4c39-9a51-2b8e4d6f0a17"
STORE_ID = "b7c2d915-48e0-4f6a-8c3d-91e5a0f27b64"
MINER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.miner-admin.sig"
NODE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.node-sign.sig"


@pytest.fixture
def lotus(tmp_path):
    """A lotus-miner repo (itself a storage path, as `lotus-miner init`
    makes it) and a second storage path attached with --init --store."""
    repo, store = tmp_path / "lotusminer", tmp_path / "store-1"
    shutil.copytree(DATA / "miner-repo", repo)
    shutil.copytree(DATA / "store-path", store)
    write_storage_json(repo / "storage.json", [repo, store])
    return repo, store


def write_storage_json(path: Path, paths: list[Path]) -> None:
    # as Lotus' WriteStorageFile: json.MarshalIndent(config, "", "  ")
    path.write_text(json.dumps({"StoragePaths": [{"Path": str(p)} for p in paths]}, indent=2))


def set_key(repo: Path, section: str, line: str) -> None:
    """Uncomments (or adds) ``Key = value`` in ``[section]`` of the repo's
    config.toml, as an operator edits it."""
    text = (repo / "config.toml").read_text()
    key = line.split("=")[0].strip()
    head = f"[{section}]\n"
    start = text.index(head) + len(head)
    end = text.find("\n[", start)
    body = text[start:end]
    lines = [ln for ln in body.split("\n") if ln.strip().lstrip("#").split("=")[0].strip() != key]
    body = "\n".join([f"  {line}", *lines])
    (repo / "config.toml").write_text(text[:start] + body + text[end:])


def settings(result) -> dict[str, object]:
    return {f"{s.section}.{s.key}": s.value for s in result.settings}


def unmapped(result) -> dict[str, str]:
    return {u.what.split(" = ")[0]: u.reason for u in result.unmapped}


# ---- values as Lotus reads them ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m0s", 600), ("20m0s", 1200), ("1h30m", 5400), ("1.5s", 1.5), ("300ms", 0.3), ("0", 0)],
)
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "5 m", "", "1m5", "ten minutes"])
def test_bad_go_durations(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("text", "atto"),
    [
        ("5 FIL", 5 * ATTO_PER_FIL),
        ("0.025 FIL", 25 * 10**15),
        ("5", 5 * ATTO_PER_FIL),  # no unit: FIL, as types.ParseFIL reads it
        ("0.5fil", ATTO_PER_FIL // 2),
        ("1000 attoFIL", 1000),
        ("7 aFIL", 7),
        ("0 FIL", 0),
    ],
)
def test_lotus_fil_amounts(text, atto):
    assert parse_lotus_fil(text) == atto


@pytest.mark.parametrize("text", ["5 nFIL", "1e3", "0.0000000000000000001 FIL", "", 5])
def test_bad_lotus_fil_amounts(text):
    with pytest.raises(ValueError):
        parse_lotus_fil(text)


# ---- the mapping ----------------------------------------------------------------


def test_each_key_lands_on_its_counterpart(lotus):
    repo, store = lotus
    result = import_repo(repo, nodes=Nodes(miners=["f01000"]), env={})
    got = settings(result)
    assert got == {
        # [Proving], set in the fixture
        "chain.recovery_check_parallelism": 16,  # ParallelCheckLimit = 16
        "chain.recovery_check_timeout_s": 300.0,  # SingleCheckTimeout = "5m0s"
        "chain.max_partitions_per_recovery_message": 2,
        "chain.single_recovering_partition_per_post_message": True,
        # MaxPartitionsPerPoStMessage: Lotus' default 0, the network's limit
        "chain.max_partitions_per_message": 3,
        # [Fees]: MaxWindowPoStGasFee = "0.5 FIL" caps recoveries too in Lotus
        "chain.max_window_post_gas_fee": "0.5 FIL",
        "chain.max_recovery_gas_fee": "0.5 FIL",
        "chain.maximize_window_post_fee_cap": True,
        # [Addresses] DisableOwnerFallback = true
        "chain.use_owner": False,
        "chain.use_worker": True,
        "chain.miners": [1000],
        "chain.network": "f",
    }
    assert [(m.id, m.path) for m in result.storages] == [(REPO_ID, repo), (STORE_ID, store)]
    sources = {s.key: s.source for s in result.settings}
    assert sources["recovery_check_parallelism"] == "Lotus [Proving] ParallelCheckLimit = 16"
    assert "(Lotus' default)" in sources["max_partitions_per_message"]


def test_keys_without_a_counterpart_are_listed_with_the_reason(lotus):
    repo, _ = lotus
    result = import_repo(repo, env={})
    skipped = unmapped(result)
    for key in (
        "[Proving] PartitionCheckTimeout",
        "[Proving] DisableBuiltinWindowPoSt",
        "[Proving] DisableBuiltinWinningPoSt",
        "[Proving] DisableWDPoStPreChecks",
        "[Fees] MaxPreCommitGasFee",
        "[Fees] MaxCommitGasFee",
        "[Fees] MaxPreCommitBatchGasFee",
        "[Fees] MaxCommitBatchGasFee",
        "[Fees] MaxTerminateGasFee",
        "[Fees] MaxPublishDealsFee",
        "[Fees] MaxMarketBalanceAddFee",
        "[Addresses] PreCommitControl",
        "[Addresses] CommitControl",
        "[Addresses] TerminateControl",
        "[Addresses] DealPublishControl",
        "[Sealing] MaxSealingSectors",  # set in the file, in a section not ours
        "[API] ListenAddress",
    ):
        assert skipped.get(key), key
    assert "winning PoSt" in skipped["[Proving] DisableBuiltinWinningPoSt"]
    assert "sealing is not ours" in skipped["[Sealing] MaxSealingSectors"]
    # a key at its default is not reported from sections that are not ours
    assert "[Sealing] WaitDealsDelay" not in skipped
    what = {u.what for u in result.unmapped}
    assert '[Fees] MaxPreCommitGasFee = "0.03 FIL"' in what
    assert '[Proving] PartitionCheckTimeout = "20m0s" (Lotus\' default)' in what


def test_a_repo_at_lotus_defaults_maps_to_lotus_defaults(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "miner-repo", repo)
    text = (repo / "config.toml").read_text()
    lines = [
        ln if not ln.startswith("  ") or ln.strip().startswith("#") else ""
        for ln in text.split("\n")
    ]
    (repo / "config.toml").write_text("\n".join(lines))
    got = settings(import_repo(repo, env={}))
    assert got["chain.recovery_check_parallelism"] == 32
    assert got["chain.recovery_check_timeout_s"] == 600.0
    assert got["chain.max_partitions_per_message"] == 3
    assert got["chain.max_partitions_per_recovery_message"] == 0
    assert got["chain.single_recovering_partition_per_post_message"] is False
    assert got["chain.max_window_post_gas_fee"] == "5 FIL"
    assert got["chain.use_owner"] is True and got["chain.use_worker"] is True


@pytest.mark.parametrize(
    ("section", "line", "key", "value"),
    [
        ("Proving", "MaxPartitionsPerPoStMessage = 1", "max_partitions_per_message", 1),
        ("Proving", "MaxPartitionsPerPoStMessage = 10", "max_partitions_per_message", 3),
        (
            "Proving",
            "MaxPartitionsPerRecoveryMessage = 5000",
            "max_partitions_per_recovery_message",
            0,
        ),
        ("Proving", 'SingleCheckTimeout = "1h0m0s"', "recovery_check_timeout_s", 3600.0),
        (
            "Fees",
            'MaxWindowPoStGasFee = "250000000000000000 attoFIL"',
            "max_window_post_gas_fee",
            "0.25 FIL",
        ),
        ("Fees", 'MaxWindowPoStGasFee = "2"', "max_recovery_gas_fee", "2 FIL"),
        ("Fees", "MaximizeWindowPoStFeeCap = false", "maximize_window_post_fee_cap", False),
        ("Addresses", "DisableWorkerFallback = true", "use_worker", False),
    ],
)
def test_values_are_converted(lotus, section, line, key, value):
    repo, _ = lotus
    set_key(repo, section, line)
    assert settings(import_repo(repo, env={}))[f"chain.{key}"] == value


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        ("ParallelCheckLimit = 0", "[Proving] ParallelCheckLimit", "unlimited"),
        ('SingleCheckTimeout = "0s"', "[Proving] SingleCheckTimeout", "no timeout"),
    ],
)
def test_lotus_values_ours_cannot_say_are_left_at_our_default(lotus, line, key, reason):
    repo, _ = lotus
    set_key(repo, "Proving", line)
    result = import_repo(repo, env={})
    assert reason in unmapped(result)[key]
    ours = {"[Proving] ParallelCheckLimit": "recovery_check_parallelism"}.get(
        key, "recovery_check_timeout_s"
    )
    assert f"chain.{ours}" not in settings(result)


def test_environment_overrides_are_named_not_read(lotus):
    repo, _ = lotus
    env = {"LOTUS_PROVING_PARALLELCHECKLIMIT": "64", "LOTUS_RECOVERING_SECTOR_LIMIT": "1000"}
    result = import_repo(repo, env=env)
    assert settings(result)["chain.recovery_check_parallelism"] == 16
    notes = "\n".join(result.notes)
    assert "LOTUS_PROVING_PARALLELCHECKLIMIT=64 is set in this environment: not read" in notes
    assert "its counterpart is [chain] recovering_sector_limit" in notes


def test_the_written_config_keeps_every_default_and_says_where_each_key_came_from(lotus):
    repo, _ = lotus
    text = render(import_repo(repo, env={}), default_config_text(), "from a test")
    assert text.startswith("# from a test\n")
    assert (
        "# imported from Lotus [Proving] ParallelCheckLimit = 16\nrecovery_check_parallelism = 16"
        in text
    )
    for line in default_config_text().splitlines():  # every comment of ours is still there
        if line.startswith("#"):
            assert line in text
    assert f'[[storage]]\nname = "{REPO_ID}"\npath = "{repo}"' in text
    assert "#   - [Proving] PartitionCheckTimeout" in text


# ---- mistakes, named ------------------------------------------------------------


def test_a_missing_repo_or_config_is_named(tmp_path):
    with pytest.raises(LotusImportError, match=r"no such directory .*LOTUS_MINER_PATH"):
        import_repo(tmp_path / "nowhere", env={})
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        LotusImportError, match=r"empty/config.toml: not found; is .* a lotus-miner"
    ):
        import_repo(tmp_path / "empty", env={})


def test_a_full_nodes_repo_is_told_apart(tmp_path):
    (tmp_path / "config.toml").write_text(
        "[Chainstore]\n  #EnableSplitstore = true\n\n[Libp2p]\n  #ListenAddresses = []\n"
    )
    with pytest.raises(LotusImportError, match="a Lotus full node's config"):
        import_repo(tmp_path, env={})


@pytest.mark.parametrize(
    ("section", "line", "message"),
    [
        (
            "Proving",
            'ParallelCheckLimit = "16"',
            r"\[Proving\] ParallelCheckLimit: expected a whole",
        ),
        ("Proving", 'SingleCheckTimeout = "10 minutes"', r"SingleCheckTimeout: not a duration"),
        ("Fees", 'MaxWindowPoStGasFee = "5 nFIL"', r"MaxWindowPoStGasFee: .*unrecognized unit"),
        ("Fees", "MaxWindowPoStGasFee = 5", r"MaxWindowPoStGasFee: not a FIL amount string"),
        ("Addresses", "DisableOwnerFallback = 1", r"DisableOwnerFallback: expected true or false"),
        ("Proving", "ParallelCheckLimit = -1", r"ParallelCheckLimit: expected 0 or more"),
    ],
)
def test_a_value_lotus_would_refuse_is_named_with_the_file(lotus, section, line, message):
    repo, _ = lotus
    set_key(repo, section, line)
    with pytest.raises(LotusImportError, match=message) as info:
        import_repo(repo, env={})
    assert str(repo / "config.toml") in str(info.value)


def test_invalid_toml_storage_json_and_sectorstore_json_are_named(lotus, tmp_path):
    repo, store = lotus
    (repo / "config.toml").write_text("[Proving\n")
    with pytest.raises(LotusImportError, match=r"config.toml: not valid TOML"):
        import_repo(repo, env={})
    shutil.copy(DATA / "miner-repo" / "config.toml", repo / "config.toml")
    (repo / "storage.json").write_text('{"StoragePaths": [{"Path": 7}]}')
    with pytest.raises(LotusImportError, match=r"storage.json: StoragePaths\[0\] must be"):
        import_repo(repo, env={})
    write_storage_json(repo / "storage.json", [store])
    (store / "sectorstore.json").write_text('{"ID": "", "CanStore": true}')
    with pytest.raises(LotusImportError, match=r"store-1/sectorstore.json: no storage ID"):
        import_repo(repo, env={})
    with pytest.raises(LotusImportError, match=r"elsewhere.json: not found"):
        import_repo(repo, tmp_path / "elsewhere.json", env={})


def test_two_paths_with_one_id_are_refused_as_lotus_refuses_them(lotus, tmp_path):
    repo, store = lotus
    twin = tmp_path / "twin"
    shutil.copytree(store, twin)
    write_storage_json(repo / "storage.json", [store, twin])
    with pytest.raises(LotusImportError, match=f"have the same ID {STORE_ID}"):
        import_repo(repo, env={})


def test_a_path_not_mounted_here_is_reported_and_the_rest_imported(lotus, tmp_path):
    repo, store = lotus
    write_storage_json(repo / "storage.json", [store, tmp_path / "unmounted"])
    result = import_repo(repo, env={})
    assert [m.id for m in result.storages] == [STORE_ID]
    assert any(
        "unmounted" in u.what and "not found on this machine" in u.reason for u in result.unmapped
    )


def test_a_storage_json_given_apart_from_the_repo(lotus, tmp_path):
    repo, store = lotus
    (repo / "storage.json").unlink()
    assert "no [[storage]] imported" in "\n".join(import_repo(repo, env={}).notes)
    elsewhere = tmp_path / "storage-backup.json"
    write_storage_json(elsewhere, [store])
    assert [m.id for m in import_repo(repo, elsewhere, env={}).storages] == [STORE_ID]


# ---- the nodes: fakes in Lotus' JSON over loopback ------------------------------------

MINER_INFO = {
    "Owner": "f01001",
    "Worker": "f01002",
    "NewWorker": "<empty>",
    "ControlAddresses": ["f01003", "f01004"],
    "WorkerChangeEpoch": -1,
    "PeerId": "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf",
    "Multiaddrs": [],
    "WindowPoStProofType": 13,
    "SectorSize": 34359738368,
    "WindowPoStPartitionSectors": 2349,
    "ConsensusFaultElapsed": -1,
    "PendingOwnerAddress": None,
    "Beneficiary": "f01001",
    "BeneficiaryTerm": {"Quota": "0", "UsedQuota": "0", "Expiration": 0},
    "PendingBeneficiaryTerm": None,
}
KEYS = {
    "f01001": "f3owner",
    "f01002": "f3worker",
    "f01003": "f1sealingaddress",
    "f01004": "f1postaddress",
}


class FakeNode:
    """A Lotus JSON-RPC endpoint on loopback: the miner API (``/rpc/v0``)
    or a full node's (``/rpc/v1``); an unknown token is HTTP 401 with an
    empty body, as go-jsonrpc's auth handler answers."""

    def __init__(self, path: str, token: str, methods: dict) -> None:
        self.calls: list[tuple[str, list]] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path != path:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                name = body["method"].removeprefix("Filecoin.")
                node.calls.append((name, body["params"]))
                if name in methods:
                    answer = {
                        "jsonrpc": "2.0",
                        "id": body["id"],
                        "result": methods[name](*body["params"]),
                    }
                else:
                    answer = {
                        "jsonrpc": "2.0",
                        "id": body["id"],
                        "error": {
                            "code": -32601,
                            "message": f"method '{body['method']}' not found",
                        },
                    }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.server.server_address[1]}/http"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _lookup_id(address, _tsk):
    ids = {v: k for k, v in KEYS.items()}
    return ids[address]


@pytest.fixture
def nodes():
    miner = FakeNode("/rpc/v0", MINER_TOKEN, {"ActorAddress": lambda: "f01000"})
    full = FakeNode(
        "/rpc/v1",
        NODE_TOKEN,
        {
            "StateMinerInfo": lambda address, tsk: MINER_INFO if address == "f01000" else None,
            "StateLookupID": _lookup_id,
            "StateAccountKey": lambda address, _tsk: KEYS[address],
            "WalletHas": lambda key: key in ("f3worker", "f1postaddress", "f1sealingaddress"),
        },
    )
    yield miner, full
    miner.close()
    full.close()


def test_miner_and_control_addresses_come_from_the_running_nodes(lotus, nodes):
    repo, _ = lotus
    miner, full = nodes
    # as lotus-miner leaves them in its repo while it runs
    (repo / "api").write_text(miner.multiaddr)
    (repo / "token").write_text(MINER_TOKEN)
    full_info = f"{NODE_TOKEN}:{full.multiaddr}"
    result = import_repo(repo, env={"FULLNODE_API_INFO": full_info})
    got = settings(result)
    assert got["chain.miners"] == [1000]
    assert got["chain.network"] == "f"
    assert got["chain.api"] == full_info
    assert got["chain.use_owner"] is False  # DisableOwnerFallback = true
    assert "chain.senders" not in got  # no [Addresses] lists: every control address, as Lotus
    assert ("ActorAddress", []) in miner.calls
    assert ("StateMinerInfo", ["f01000", []]) in full.calls
    notes = "\n".join(result.notes)
    assert (
        "miner 1000 on chain: owner f01001, worker f01002, control addresses f01003, f01004"
        in notes
    )
    assert "f01002 yes" in notes and "f01001 no" in notes


def test_control_addresses_lotus_keeps_for_sealing_are_left_out_of_the_senders(lotus, nodes):
    repo, _ = lotus
    miner, full = nodes
    set_key(repo, "Addresses", 'PreCommitControl = ["f1sealingaddress"]')
    result = import_repo(
        repo,
        nodes=Nodes(
            miner_api=f"{MINER_TOKEN}:{miner.multiaddr}",
            full_node_api=f"{NODE_TOKEN}:{full.multiaddr}",
        ),
        env={},
    )
    # f01003 (f1sealingaddress) sends PreCommits in Lotus: PoSt goes from
    # f01004, then the worker; DisableOwnerFallback = true leaves the owner out
    assert settings(result)["chain.senders"] == ["f01004", "f01002"]
    assert ("StateLookupID", ["f1sealingaddress", []]) in full.calls
    assert "left out of senders" in unmapped(result)["[Addresses] PreCommitControl"]


def test_without_a_full_node_sealing_senders_are_reported_not_applied(lotus):
    repo, _ = lotus
    set_key(repo, "Addresses", 'CommitControl = ["f1sealingaddress"]')
    result = import_repo(repo, nodes=Nodes(miners=["f01000"]), env={})
    assert "chain.senders" not in settings(result)
    assert any(n.startswith("NOT MAPPED: [Addresses] CommitControl") for n in result.notes)


def test_a_node_that_does_not_answer_is_said_so_and_the_files_are_written(lotus, nodes):
    repo, _ = lotus
    miner, _full = nodes
    (repo / "api").write_text(miner.multiaddr)
    (repo / "token").write_text("a-wrong-token")
    result = import_repo(repo, env={})
    assert "chain.miners" not in settings(result)
    notes = "\n".join(result.notes)
    assert "did not answer ActorAddress" in notes and "refused the token" in notes
    assert "[chain] miners left empty" in notes
    miner.close()
    result = import_repo(repo, nodes=Nodes(timeout=2), env={})
    assert "unreachable" in "\n".join(result.notes)


def test_the_miner_api_is_v0_and_a_multiaddr_or_url():
    assert miner_url("tok:/ip4/10.0.0.2/tcp/2345/http") == ("http://10.0.0.2:2345/rpc/v0", "tok")
    assert miner_url("tok:http://miner:2345/rpc/v0") == ("http://miner:2345/rpc/v0", "tok")


# ---- the command -----------------------------------------------------------------------


def test_the_command_writes_a_config_the_manager_loads(lotus, tmp_path, nodes):
    repo, store = lotus
    miner, full = nodes
    home = tmp_path / "home"
    args = [
        "--home",
        str(home),
        "config",
        "import-lotus",
        "--repo",
        str(repo),
        "--miner-api",
        f"{MINER_TOKEN}:{miner.multiaddr}",
        "--full-node-api",
        f"{NODE_TOKEN}:{full.multiaddr}",
    ]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    config = load_manager_config(home / "config.toml")
    assert config.chain.miners == [1000]
    assert config.chain.api == f"{NODE_TOKEN}:{full.multiaddr}"
    assert config.chain.max_window_post_gas_fee == ATTO_PER_FIL // 2
    assert config.chain.recovery_check_parallelism == 16
    assert [(s.name, s.path) for s in config.storage] == [(REPO_ID, repo), (STORE_ID, store)]
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600  # it holds a token
    assert (home / "secret").exists()
    out = run.output
    assert (
        "[chain] recovery_check_parallelism = 16  <- Lotus [Proving] ParallelCheckLimit = 16" in out
    )
    assert "not mapped:\n" in out
    assert "[Proving] DisableBuiltinWinningPoSt = false (Lotus' default): winning PoSt" in out
    assert NODE_TOKEN not in out  # the node's token is not printed
    assert f"prover-storage --storage {repo} --storage {store}" in out

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "exists; pass --force" in again.output
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0


def test_the_command_names_a_bad_repo_and_writes_nothing(tmp_path):
    out = tmp_path / "manager.toml"
    run = CliRunner().invoke(
        cli, ["config", "import-lotus", "--repo", str(tmp_path / "nope"), "--out", str(out)]
    )
    assert run.exit_code == 1
    assert "nope: no such directory" in run.output
    assert not out.exists()
