"""Curio's layers stacked as Curio stacks them (base first, later layers
over earlier, keys matched whatever their case, [[Addresses]] merged by
position), and mapped to our config, without a database: the layers are
given as Curio stores them."""

from __future__ import annotations

import pytest

from prover.chain.message import ATTO_PER_FIL
from prover.config import parse_fil
from prover.curioimport import (
    CurioDatabase,
    CurioImportError,
    Machine,
    import_from,
    layer_order,
    parse_layer,
    stack,
)

BASE = """
[Subsystems]
  #EnableWindowPost = false

[Fees]
  #MaxWindowPoStGasFee = "5 FIL"

[[Addresses]]
  #PreCommitControl = []
  MinerAddresses = ["f01000"]

[[Addresses]]
  MinerAddresses = ["f01001"]
  DisableOwnerFallback = true

[Apis]
  ChainApiInfo = ["tok:/ip4/10.0.0.5/tcp/1234/http"]
"""
POST = """
  [Subsystems]
  EnableWindowPost = true
  EnableWinningPost = true
  """


def stacked(*layers: tuple[str, str]):
    return stack([(title, parse_layer(title, text)) for title, text in layers])


def db(**layers: str) -> CurioDatabase:
    return CurioDatabase("postgresql://curio@db/yugabyte", {"base": BASE, **layers})


def test_base_comes_first_and_a_repeat_is_dropped():
    assert layer_order(["post", "base", "post", "fees"]) == ["base", "post", "fees"]
    assert layer_order([]) == ["base"]


def test_a_later_layer_overrides_and_what_it_does_not_name_keeps_its_value():
    st = stacked(("base", BASE), ("post", POST), ("fees", '[Fees]\nMaxWindowPoStGasFee = "1 FIL"'))
    assert st.get("Subsystems", "EnableWindowPost") is True
    assert st.source("Subsystems", "EnableWindowPost") == "post"
    assert st.get("Fees", "MaxWindowPoStGasFee") == "1 FIL"
    assert st.get("Fees", "MaximizeFeeCap") is True  # Curio's default: no layer names it
    assert st.source("Fees", "MaximizeFeeCap") is None
    assert st.get("Apis", "ChainApiInfo") == ["tok:/ip4/10.0.0.5/tcp/1234/http"]


def test_defaults_count_where_base_comments_them_out():
    st = stacked(("base", BASE))
    assert st.get("Fees", "MaxWindowPoStGasFee") == "5 FIL"
    assert st.get("Proving", "ParallelCheckLimit") == 32
    assert st.get("Proving", "SingleCheckTimeout") == "10m0s"
    assert st.get("Subsystems", "EnableWindowPost") is False


def test_keys_match_whatever_their_case():
    st = stacked(
        ("base", BASE),
        ("x", "[subsystems]\nenablewindowpost = true\n[FEES]\nmaxwindowpostgasfee = '2'"),
    )
    assert st.get("Subsystems", "EnableWindowPost") is True
    assert st.get("Fees", "MaxWindowPoStGasFee") == "2"


def test_addresses_merge_by_position_and_take_the_last_layers_length():
    one = '[[Addresses]]\nPreCommitControl = ["f0500"]'
    st = stacked(("base", BASE), ("one", one))
    entries = st.get("Addresses")
    assert len(entries) == 1  # base's second entry is cut off
    assert entries[0]["MinerAddresses"] == ["f01000"]  # kept from base's first entry
    assert entries[0]["PreCommitControl"] == ["f0500"]
    assert st.source("Addresses", 0, "MinerAddresses") == "base"
    assert st.source("Addresses", 1, "MinerAddresses") is None  # gone with its entry
    # a layer without [[Addresses]] leaves them as they were
    assert len(stacked(("base", BASE), ("post", POST)).get("Addresses")) == 2
    # an entry a layer adds starts from Curio's default entry
    three = "[[Addresses]]\n[[Addresses]]\n[[Addresses]]\nMinerAddresses = ['f01002']"
    entries = stacked(("base", BASE), ("three", three)).get("Addresses")
    assert [e["MinerAddresses"] for e in entries] == [["f01000"], ["f01001"], ["f01002"]]
    assert entries[2]["DisableOwnerFallback"] is False and entries[1]["DisableOwnerFallback"]


def test_a_list_of_values_is_replaced_whole():
    st = stacked(("base", BASE), ("a", "[Apis]\nChainApiInfo = ['b:/ip4/1.2.3.4/tcp/1/http']"))
    assert st.get("Apis", "ChainApiInfo") == ["b:/ip4/1.2.3.4/tcp/1/http"]


def test_the_old_single_addresses_table_reads_as_one_entry():
    st = stacked(("base", '[Addresses]\nMinerAddresses = ["f01234"]\n'))
    assert st.get("Addresses")[0]["MinerAddresses"] == ["f01234"]


def test_the_mapping_lands_on_our_keys():
    fees = '[Fees]\nMaxWindowPoStGasFee = "0.5 FIL"\nMaximizeFeeCap = false\n'
    proving = '[Proving]\nParallelCheckLimit = 16\nSingleCheckTimeout = "2m30s"\n'
    result = import_from(db(post=POST, tune=fees + proving), ["post", "tune"])
    got = {s.key: s.value for s in result.settings}
    assert got["miners"] == [1000, 1001] and got["network"] == "f"
    assert parse_fil(got["max_window_post_gas_fee"]) == ATTO_PER_FIL // 2
    assert parse_fil(got["max_recovery_gas_fee"]) == ATTO_PER_FIL // 2
    assert got["maximize_window_post_fee_cap"] is False
    assert got["recovery_check_parallelism"] == 16
    assert got["recovery_check_timeout_s"] == 150.0
    assert got["api"] == "tok:/ip4/10.0.0.5/tcp/1234/http"
    # one entry disables the owner: off for all (our flag is one for all miners)
    assert got["use_owner"] is False and got["use_worker"] is True
    assert any("entries differ in DisableOwnerFallback" in n for n in result.notes)
    source = next(s.source for s in result.settings if s.key == "max_window_post_gas_fee")
    assert source == "Curio [Fees] MaxWindowPoStGasFee = \"0.5 FIL\" (layer 'tune')"


def test_what_is_not_carried_over_is_listed_with_the_reason():
    seal = "[Subsystems]\nEnableSealSDR = true\n[Seal]\nBatchSealBatchSize = 64\n"
    result = import_from(db(post=POST, seal=seal), ["post", "seal"])
    unmapped = [str(u) for u in result.unmapped]
    assert any(
        u.startswith('[Proving] PartitionCheckTimeout = "20m0s" (Curio\'s default): sectors')
        for u in unmapped
    )
    assert (
        "[Subsystems] EnableWinningPost = true (layer 'post'): winning PoSt (block "
        "production) is not ours" in unmapped
    )
    assert any(
        u.startswith("[Subsystems] EnableSealSDR = true (layer 'seal'): a Curio task")
        for u in unmapped
    )
    assert any(
        u.startswith("[Seal] BatchSealBatchSize = 64 (layer 'seal'): [Seal] is not about")
        for u in unmapped
    )


def test_secrets_are_not_shown_in_the_report():
    result = import_from(db(post=POST, s='[Apis]\nStorageRPCSecret = "c2VjcmV0"'), ["post", "s"])
    text = " ".join(map(str, result.unmapped)) + " ".join(result.notes)
    assert "c2VjcmV0" not in text and "<secret>" in text


def test_control_addresses_kept_for_sealing_are_reported_not_applied():
    layer = '[[Addresses]]\nMinerAddresses = ["f01000"]\nPreCommitControl = ["f3abc"]'
    result = import_from(db(post=POST, ctl=layer), ["post", "ctl"])
    assert result.get("chain", "use_control_addresses") is True
    assert any(
        n.startswith("NOT MAPPED: Curio keeps the control addresses f3abc") for n in result.notes
    )
    assert any("PreCommitControl = ['f3abc']: not applied" in str(u) for u in result.unmapped)


def test_which_layers_and_machines_run_window_post_is_said():
    machines = [
        Machine("10.0.0.11:12300", ("base", "post"), ("WdPost", "WdPostSubmit"), ("f01000",))
    ]
    database = CurioDatabase(
        "db", {"base": BASE, "post": POST, "gui": "[Subsystems]\nEnableWebGui = true"}, machines
    )
    result = import_from(database)  # no --layers: the WdPost machines' stack
    assert result.layers == ["base", "post"]
    notes = "\n".join(result.notes)
    assert "enabled in the stack base,post by the layer 'post'" in notes
    assert "layers that set EnableWindowPost = true: post" in notes
    assert "machine 10.0.0.11:12300 runs WdPost with the layers base,post for f01000" in notes
    alone = import_from(CurioDatabase("db", {"base": BASE, "post": POST}))
    assert alone.layers == ["base"]
    assert "not enabled in the stack base" in "\n".join(alone.notes)


@pytest.mark.parametrize(
    ("layers", "extra", "message"),
    [
        (
            ["wdpost"],
            {},
            r"no layer 'wdpost' in curio.harmony_config at db \(its layers: base, post\)",
        ),
        (
            ["bad"],
            {"bad": "[Fees\nx = 1"},
            r"the layer 'bad' in curio.harmony_config is not valid TOML",
        ),
        (
            ["m"],
            {"m": "[[Addresses]]\nMinerAddresses = ['f2abcdef']"},
            r"'f2abcdef' is not a miner's ID address",
        ),
        (
            ["m"],
            {"m": "[[Addresses]]\nMinerAddresses = ['1000']"},
            r"'1000' is not a miner's ID address",
        ),
        (["m"], {"m": "[[Addresses]]\nMinerAddresses = ['f01000', 't01001']"}, "mix mainnet"),
        (
            ["f"],
            {"f": "[Fees]\nMaxWindowPoStGasFee = '5 dollars'"},
            r"MaxWindowPoStGasFee = \"5 dollars\" \(layer 'f'\): not a FIL",
        ),
        (
            ["p"],
            {"p": "[Proving]\nSingleCheckTimeout = 'soon'"},
            r"SingleCheckTimeout .*not a duration",
        ),
        (
            ["p"],
            {"p": "[Proving]\nParallelCheckLimit = 'many'"},
            r"ParallelCheckLimit .*expected int",
        ),
        (["a"], {"a": "Addresses = 'f01000'"}, r"Addresses = \"f01000\" where Curio has a table"),
    ],
)
def test_bad_input_is_named(layers, extra, message):
    database = CurioDatabase("db", {"base": BASE, "post": POST, **extra})
    with pytest.raises(CurioImportError, match=message):
        import_from(database, layers)
