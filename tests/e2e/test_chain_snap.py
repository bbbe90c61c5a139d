"""Snap-upgraded sectors on chain: a devnet holding plain sectors and sectors
upgraded for real by the proofs library's empty-sector update (SectorKeyCID
set, SealedCID the new comm_r), a real manager and a real worker."""

from __future__ import annotations

import shutil

from chain_fixtures import start_devnet, wait_for
from prover.chain.deadlines import Policy
from prover.chain.encoding import METHOD_SUBMIT_WINDOWED_POST, decode_submit_windowed_post


def post_skipped(chain) -> dict[int, set[int]]:
    """deadline -> the sectors the accepted PoSt messages declared skipped."""
    out: dict[int, set[int]] = {}
    for msg in chain.net.messages.values():
        if msg.method != METHOD_SUBMIT_WINDOWED_POST or msg.exit_code != 0:
            continue
        params = decode_submit_windowed_post(msg.params)
        for _, skipped in params.partitions:
            out.setdefault(params.deadline, set()).update(skipped)
    return out


def test_plain_and_upgraded_sectors_proven_and_an_upgrade_without_its_files_skipped(tmp_path):
    # deadline 2: sector 1 plain, sector 2 upgraded; deadline 3: sector 3
    # plain, sector 4 upgraded but its update files lost (the sector key,
    # its old sealed file, is still there and must not be proven from)
    # 12-epoch deadlines: room for two proofs in a row on a loaded machine
    policy = Policy.devnet(challenge_window=12, challenge_lookback=4, fault_declaration_cutoff=5)
    chain = start_devnet(tmp_path, {2: [[1, 2]], 3: [[3, 4]]}, policy, upgraded=(2, 4))
    assert set(chain.miner.sector_keys) == {2, 4}
    upgraded = chain.replicas[4]
    assert upgraded.sealed_path.parent.name == "update"
    shutil.rmtree(upgraded.cache_dir)
    upgraded.sealed_path.unlink()
    assert (chain.store / "sealed" / upgraded.sealed_path.name).is_file()
    m = chain.manager(tmp_path / "mgr")
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 90, "deadline 2 proven")
        wait_for(lambda: chain.proven(0, 3) == {0}, 30, "deadline 3 proven")
        refused = [x.reason for x in chain.net.messages.values() if x.exit_code != 0]
        assert refused == []
        skipped = post_skipped(chain)
        assert skipped.get(2, set()) == set()  # both kinds proven together
        assert skipped[3] == {4}  # listed in Skipped, not proven from the sector key
        assert 4 in chain.miner.faulty and not chain.miner.faulty & {1, 2, 3}
        (not_found,) = m.events("sectors_not_found")
        assert (not_found["deadline"], not_found["sectors"]) == (3, [4])
        assert not chain.miner.misses
    finally:
        w.kill()
        m.kill()
        chain.server.stop()
