"""What the manager logs when a worker registers with parameter problems
(issue 27, item 3): one info line naming the sizes it can prove, errors only
for files present and wrong, or missing for a size it was told to take."""

from __future__ import annotations

from structlog.testing import capture_logs

from prover.manager.servicers import _log_parameter_problems


def _missing(chain_id: int, kind: str) -> dict:
    return {"proof_type": chain_id, "file": f"f{chain_id}.{kind}", "problem": "missing"}


def test_absent_sizes_of_a_worker_that_names_none_are_one_info_line():
    # the demo: 2KiB present, every other size absent (two files each)
    problems = [_missing(t, k) for t in (11, 12, 13, 14) for k in ("params", "vk")]
    with capture_logs() as logs:
        _log_parameter_problems("w1", problems, [])
    assert [e["log_level"] for e in logs] == ["info"]
    assert logs[0]["event"] == "worker_sizes"
    assert logs[0]["provable"] == ["2KiB"]
    assert logs[0]["without_files"] == ["8MiB", "512MiB", "32GiB", "64GiB"]


def test_a_wrong_file_and_a_missing_allowed_size_are_errors():
    wrong = {"proof_type": 10, "file": "a.params", "problem": "wrong digest", "detail": "x"}
    with capture_logs() as logs:
        _log_parameter_problems("w1", [wrong], [])
        _log_parameter_problems("w2", [_missing(13, "params")], [13])
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [(e["worker"], e["problem"]) for e in errors] == [
        ("w1", "wrong digest"),
        ("w2", "missing"),
    ]
    sizes = {e["worker"]: e for e in logs if e["event"] == "worker_sizes"}
    assert "2KiB" not in sizes["w1"]["provable"] and sizes["w1"]["without_files"] == []
    assert sizes["w2"]["provable"] == []
