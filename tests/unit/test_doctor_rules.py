"""`prover doctor`'s rules on simulated hosts: every reading of the machine
(NVML, /proc/meminfo, statvfs, the clock, the CPUs) is handed in, so each
way a host is not ready is shown without having such a host."""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.buildinfo import BuildInfo
from prover.doctor import checks, gpu, host, manager, network, plans, roles
from prover.doctor.checks import FAIL, OK, SKIP, WARN, Check, Report, run_probes
from prover.doctor.host import Disk, GiB, Gpu, Memory, MiB, NvmlReading, Readings

H100 = Gpu(0, "NVIDIA H100 80GB HBM3", "GPU-1111aaaa", 80 * GiB)
T4 = Gpu(1, "Tesla T4", "GPU-2222bbbb", 15 * GiB)
SMALL = Gpu(2, "GeForce GTX 1060", "GPU-3333cccc", 6 * GiB)

CUDA = BuildInfo("0.2.0", "abc1234", "cuda", cuda="13.0", source="wheel")
CPU = BuildInfo("0.2.0", "abc1234", "cpu", source="wheel")


def nvml(driver: str = "580.82.07", *gpus: Gpu) -> NvmlReading:
    return NvmlReading(driver, tuple(gpus) or (H100,))


NO_DRIVER = NvmlReading(error="NVML cannot start (Driver Not Loaded): no NVIDIA driver loaded")


# ---- the build, GPUs and driver --------------------------------------------------


def test_a_driver_older_than_the_build_needs_fails_naming_both():
    check = gpu.driver_check(CUDA, nvml("550.54.14"))
    assert check.status == FAIL
    assert "550.54.14" in check.detail and "580.65.06" in check.detail
    assert "CPU" in check.detail and "580.65.06" in check.fix


def test_a_driver_new_enough_passes_and_a_cpu_build_needs_none():
    assert gpu.driver_check(CUDA, nvml("580.65.06")).status == OK
    assert gpu.driver_check(CUDA, nvml("590.1")).status == OK
    assert gpu.driver_check(CPU, nvml("410.1")) is None


def test_driver_versions_compare_as_numbers_not_text():
    assert gpu.version_tuple("580.9.1") < gpu.version_tuple("580.65.06")
    assert gpu.driver_check(CUDA, nvml("580.9.1")).status == FAIL


def test_a_cuda_build_without_a_driver_fails_twice_over():
    assert gpu.gpu_check("cuda", NO_DRIVER, None, "").status == FAIL
    check = gpu.driver_check(CUDA, NO_DRIVER)
    assert check.status == FAIL and "install the NVIDIA driver 580.65.06" in check.fix


def test_a_cuda_build_with_no_usable_gpu_fails():
    check = gpu.gpu_check("cuda", NvmlReading("580.82.07", ()), None, "")
    assert check.status == FAIL and "no usable GPU" in check.detail
    assert "CPU without saying so" in check.detail


def test_the_supraseal_build_is_checked_as_a_gpu_build_with_no_cpu_path():
    """SupraSeal fails every proof without a GPU instead of proving on the
    CPU: the same checks as the cuda build, saying so."""
    supraseal = BuildInfo("0.2.0", "abc1234", "supraseal", cuda="13.0", source="wheel")
    check = gpu.gpu_check("supraseal", NvmlReading("580.82.07", ()), None, "")
    assert check.status == FAIL and "SupraSeal would fail every proof" in check.detail
    assert gpu.gpu_check("supraseal", nvml(), None, "").detail.startswith("supraseal build;")
    old = gpu.driver_check(supraseal, nvml("550.54.14"))
    assert old.status == FAIL and "proofs fail" in old.detail and "580.65.06" in old.fix
    assert gpu.driver_check(supraseal, nvml("580.65.06")).status == OK
    assert gpu.native_check(supraseal, lambda: None).status == OK


def test_a_cuda_build_whose_cuda_version_is_not_recorded_warns():
    build = BuildInfo("0.2.0", "abc", "cuda", cuda="")
    assert gpu.driver_check(build, nvml()).status == WARN


def test_a_cpu_build_on_a_gpu_host_is_a_warning_and_alone_is_fine():
    check = gpu.gpu_check("cpu", nvml("580.82.07", H100, T4), None, "")
    assert check.status == WARN and "2 GPU(s)" in check.detail and "--features cuda" in check.fix
    assert gpu.gpu_check("cpu", NO_DRIVER, None, "").status == OK


@pytest.mark.parametrize("spec", ["", "-1", "7", "GPU-ffff"])
def test_cuda_visible_devices_that_hide_every_gpu_fail(spec):
    check = gpu.gpu_check("cuda", nvml("580.82.07", H100, T4), spec, "CUDA_VISIBLE_DEVICES")
    assert check.status == FAIL
    assert "0 NVIDIA H100" in check.fix and "1 Tesla T4" in check.fix


def test_cuda_visible_devices_stop_at_the_first_bad_entry_as_cuda_does():
    visible, unknown = gpu.visible_gpus([H100, T4], "1,9,0")
    assert visible == [T4] and unknown == ["9", "0"]
    check = gpu.gpu_check("cuda", nvml("580.82.07", H100, T4), "1,9,0", "CUDA_VISIBLE_DEVICES")
    assert check.status == WARN and "Tesla T4" in check.detail


def test_gpus_are_found_by_index_or_uuid_prefix():
    assert gpu.visible_gpus([H100, T4], "GPU-2222")[0] == [T4]
    assert gpu.visible_gpus([H100, T4], None)[0] == [H100, T4]
    check = gpu.gpu_check("cuda", nvml("580.82.07", H100, T4), "0", "gpu")
    assert check.status == OK and "gpu=0" in check.detail and "H100" in check.detail


def test_a_workers_gpu_decides_over_the_environment():
    assert plans.gpu_spec(1, {"CUDA_VISIBLE_DEVICES": "0"}) == ("1", "gpu")
    assert plans.gpu_spec(None, {"CUDA_VISIBLE_DEVICES": "0"}) == ("0", "CUDA_VISIBLE_DEVICES")
    assert plans.gpu_spec(None, {}) == (None, "")


def test_the_native_module_not_loading_fails_with_what_to_install():
    def refuse():
        raise ImportError("libcuda.so.1: cannot open shared object file")

    check = gpu.native_check(CUDA, refuse)
    assert check.status == FAIL and "libcuda" in check.detail
    assert "NVIDIA driver" in check.fix
    assert gpu.native_check(CPU, lambda: None).status == OK


# ---- the cpuset ------------------------------------------------------------------


def test_a_cpuset_wholly_off_the_host_fails():
    check = gpu.cpuset_check("32-47", set(range(16)), set(range(16)))
    assert check.status == FAIL and "0-15" in check.detail and "will not start" in check.detail


def test_a_cpuset_partly_off_the_host_warns_with_what_is_left():
    check = gpu.cpuset_check("8-23", set(range(16)), set(range(16)))
    assert check.status == WARN and "16-23" in check.detail and "runs on 8-15" in check.detail


def test_a_cpuset_outside_this_process_affinity_warns():
    check = gpu.cpuset_check("8-15", set(range(16)), set(range(8)))
    assert check.status == WARN and "CPUAffinity" in check.fix


def test_a_bad_cpuset_fails_and_a_good_one_passes():
    assert gpu.cpuset_check("3-1", set(range(16)), set(range(16))).status == FAIL
    assert gpu.cpuset_check("0-7,12", set(range(16)), set(range(16))).status == OK
    assert gpu.cpuset_check("", set(range(4)), {0, 1, 2, 3}).status == OK
    assert gpu.cpus_text({0, 1, 2, 3, 8, 10, 11}) == "0-3,8,10-11"


# ---- RAM and disks ---------------------------------------------------------------

S32 = [("32GiB", 32 << 30)]
S64 = [("2KiB", 2048), ("64GiB", 64 << 30)]


def test_ram_short_of_a_32gib_partition_fails():
    check = host.ram_check(S32, 1, Memory(48 * GiB, 40 * GiB, 64 * GiB))
    assert check.status == FAIL and "62.0 GiB" in check.detail


def test_ram_counts_every_slot_since_each_loads_its_own_parameters():
    mem = Memory(100 * GiB, 90 * GiB, 200 * GiB)
    assert host.ram_check(S32, 1, mem).status == OK
    check = host.ram_check(S32, 2, mem)
    assert check.status == FAIL and "124 GiB" in check.detail and "concurrency to 1" in check.fix


def test_ram_enough_at_rest_but_not_at_peak_warns():
    check = host.ram_check(S32, 1, Memory(64 * GiB, 60 * GiB, 0))
    assert check.status == WARN and "128 GiB" in check.detail


def test_the_largest_size_decides():
    assert host.ram_check(S64, 1, Memory(100 * GiB, 90 * GiB, 100 * GiB)).status == FAIL
    assert host.ram_check([("2KiB", 2048)], 4, Memory(1 * GiB, GiB, 0)).status == OK


def test_no_room_for_the_missing_parameters_fails():
    disk = Disk(Path("/var/tmp"), 20 * GiB, 100 * GiB)
    check = host.params_disk_check([("32GiB", 57 * GiB)], disk)
    assert check.status == FAIL and "57.0 GiB" in check.detail and "37.0 GiB" in check.fix
    assert host.params_disk_check([], disk).status == OK
    assert host.params_disk_check([("2KiB", 12 * MiB)], disk).status == OK


def test_a_full_spool_disk_fails(tmp_path):
    check = host.scratch_check("spool", tmp_path / "spool-w1", Disk(tmp_path, 1 * MiB, GiB))
    assert check.status == FAIL and "result may not be written" in check.detail
    assert "made in" in check.detail  # the spool does not exist yet: its parent is what counts
    assert host.scratch_check("spool", tmp_path, Disk(tmp_path, GiB, GiB)).status == OK


def test_a_small_gpu_warns_for_32gib_and_says_nothing_for_2kib():
    check = host.gpu_memory_check(S32, [H100, SMALL])
    assert check.status == WARN and "GTX 1060" in check.detail and "8.5 GiB" in check.detail
    assert host.gpu_memory_check(S32, [H100]).status == OK
    assert host.gpu_memory_check([("2KiB", 2048)], [SMALL]) is None
    assert host.gpu_memory_check(S32, []) is None


def test_meminfo_is_read_in_bytes(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text("MemTotal:       16384 kB\nMemAvailable:    8192 kB\nSwapTotal: 0 kB\n")
    assert host.read_memory(str(path)) == Memory(16 * MiB, 8 * MiB, 0)


# ---- the managers ----------------------------------------------------------------

A = "10.0.0.1:9700"


def test_a_refused_token_fails_with_how_to_get_a_good_one():
    answer = network.ManagerAnswer(A, True, refusal="invalid token")
    check = network.token_check(answer, "worker")
    assert check.status == FAIL and "invalid token" in check.detail
    assert "prover-manager auth api-info --perm worker" in check.fix
    assert network.version_check(answer, 2) is None


def test_an_admin_token_on_a_worker_warns_and_a_worker_token_passes():
    assert (
        network.token_check(network.ManagerAnswer(A, True, perm="admin"), "worker").status == WARN
    )
    assert network.token_check(network.ManagerAnswer(A, True, perm="worker"), "worker").status == OK


def test_an_unreachable_manager_fails_and_says_nothing_more():
    answer = network.ManagerAnswer(A, False, error="UNAVAILABLE: connection refused")
    assert network.reach_check(answer).status == FAIL
    assert network.token_check(answer, "worker") is None


@pytest.mark.parametrize(
    ("manager_api", "lowest", "ours", "status"),
    [
        (2, 1, 2, OK),
        (3, 1, 2, OK),  # a newer manager that still serves us
        (3, 3, 2, FAIL),  # it no longer serves this host's API
        (1, 1, 2, WARN),  # an older manager (release 0.1.0 says 0: API 1)
    ],
)
def test_api_versions(manager_api, lowest, ours, status):
    answer = network.ManagerAnswer(
        A, True, perm="admin", version="0.3.0", api_version=manager_api, min_client_api=lowest
    )
    assert network.version_check(answer, ours).status == status


def test_with_a_worker_token_the_api_is_not_compared_and_says_why():
    check = network.version_check(network.ManagerAnswer(A, True, perm="worker"), 2)
    assert check.status == SKIP and "admin token" in check.detail


def test_no_or_malformed_api_info_fails_before_dialling():
    assert network.manager_checks("", "worker", api=2)[0].status == FAIL
    bad = network.manager_checks("tok:host-without-port", "worker", api=2)
    assert bad[0].status == FAIL and "HOST:PORT" in bad[0].detail


# ---- the database and the chain -------------------------------------------------

PG = "postgresql://prover@db/prover"


def test_a_schema_behind_a_manager_that_may_not_migrate_fails_with_the_command():
    reading = manager.SchemaReading(PG, "postgresql", "behind", "schema 0012 is behind")
    checks_ = manager.database_checks(reading, "never")
    assert [c.status for c in checks_] == [OK, FAIL]
    assert "prover-manager db upgrade" in checks_[1].fix


def test_a_schema_behind_a_migrating_manager_warns_and_one_ahead_warns():
    behind = manager.SchemaReading(PG, "postgresql", "behind", "behind")
    assert manager.database_checks(behind, "auto")[1].status == WARN
    ahead = manager.SchemaReading(PG, "postgresql", "ahead", "schema 0014 is newer")
    check = manager.database_checks(ahead, "never")[1]
    assert check.status == WARN and "newer manager migrated it" in check.detail


def test_an_unreachable_database_fails():
    reading = manager.SchemaReading(PG, "postgresql", error="OperationalError: refused")
    [check] = manager.database_checks(reading, "never")
    assert check.status == FAIL and "[database] url" in check.fix


def head(age: float, *, skew: float | None = 0.0, now: float = 1_800_000_000.0):
    return manager.HeadReading(4_000_000, now - age - (skew or 0), now, skew)


def test_a_stale_head_fails_past_the_managers_own_stall_alert():
    check = manager.head_check(head(600), 30, 5)
    assert check.status == FAIL and "20 epochs behind" in check.detail
    assert "lotus sync wait" in check.fix


def test_a_head_a_few_epochs_behind_warns_and_a_fresh_one_passes():
    assert manager.head_check(head(100), 30, 5).status == WARN
    assert manager.head_check(head(25), 30, 5).status == OK
    assert manager.head_check(head(1.5), 1.0, 5).status == OK


def test_a_head_is_aged_by_the_nodes_clock_not_this_hosts():
    # this clock is 10 minutes ahead, the head itself is fresh
    reading = manager.HeadReading(100, 1_000_000.0, 1_000_000.0 + 600 + 5, 600.0)
    assert manager.head_check(reading, 30, 5).status == OK
    assert manager.clock_check(reading, 30).status == FAIL


@pytest.mark.parametrize(("skew", "status"), [(0.4, OK), (-1.9, OK), (10, WARN), (-45, FAIL)])
def test_clock_skew_against_the_node(skew, status):
    check = manager.clock_check(head(5, skew=skew), 30)
    assert check.status == status
    if status != OK:
        assert "NTP" in check.fix and ("behind" if skew < 0 else "ahead") in check.detail


def test_without_a_node_clock_a_head_from_the_future_means_this_clock_is_behind():
    future = manager.HeadReading(100, 1_000_040.0, 1_000_000.0, None)
    check = manager.clock_check(future, 30)
    assert check.status == FAIL and "40.0 s behind" in check.detail
    assert manager.clock_check(manager.HeadReading(100, 999_990.0, 1e6, None), 30).status == OK


# ---- roles ------------------------------------------------------------------------


def test_the_role_is_told_by_the_configs_shape():
    shape = roles.role_of_shape
    assert shape({"database": {"url": ""}}, Path("x.toml")) == "manager"
    assert shape({"api": {"listen": "0.0.0.0:9700"}}, Path("x.toml")) == "manager"
    assert shape({"gpu": 0, "api": "t:h:1"}, Path("x.toml")) == "worker"
    assert shape({"listen": "0.0.0.0:9702"}, Path("x.toml")) == "storage"
    assert shape({"api": "t:h:1"}, Path("/etc/prover/storage.toml")) == "storage"
    assert shape({"api": "t:h:1"}, Path("/etc/prover/worker.toml")) == "worker"
    assert shape({"api": "t:h:1"}, Path("host.toml")) is None
    assert shape({"gpu": 0, "listen": "x:1"}, Path("worker.toml")) is None


def test_the_shape_keys_are_the_models_own():
    from prover.storage.config import StorageHostConfig
    from prover.worker.config import WorkerConfig

    worker, host_ = set(WorkerConfig.model_fields), set(StorageHostConfig.model_fields)
    assert worker - host_ == roles.WORKER_ONLY
    assert host_ - worker == roles.STORAGE_ONLY


def test_a_role_that_cannot_be_told_says_to_pass_it(tmp_path):
    config = tmp_path / "host.toml"
    config.write_text('api = "t:h:1"\n')
    with pytest.raises(roles.RoleError, match="--role worker or --role storage"):
        roles.detect_role(roles.Options(config=config))
    with pytest.raises(roles.RoleError, match="pass --role"):
        roles.detect_role(roles.Options(home=tmp_path))
    (tmp_path / "config.toml").write_text("")
    assert roles.detect_role(roles.Options(home=tmp_path))[0] == "manager"
    assert roles.detect_role(roles.Options(role="storage", home=tmp_path))[1] == "--role"


# ---- the runner and a whole plan on a simulated host ------------------------------


def test_a_check_that_raises_becomes_a_failure_and_the_rest_still_run():
    def broken():
        raise RuntimeError("boom")

    out = run_probes([("first", broken), ("second", lambda: checks.ok("second", "fine"))])
    assert [c.status for c in out] == [FAIL, OK] and "RuntimeError: boom" in out[0].detail


def test_only_failures_fail_the_report_and_json_carries_every_check():
    report = Report(
        "worker", "--role", "", "0.2.0", [Check("a", OK, "x"), Check("b", WARN, "y", "z")]
    )
    assert report.ok and report.counts()[WARN] == 1
    report.checks.append(Check("c", FAIL, "bad", "fix it"))
    assert not report.ok
    data = report.as_dict()
    assert data["ok"] is False and [c["status"] for c in data["checks"]] == [OK, WARN, FAIL]
    text = report.render()
    assert "FAIL" in text and "-> fix it" in text and "1 failed, 1 warnings" in text


def simulated(**kw) -> Readings:
    values = {
        "memory": lambda: Memory(512 * GiB, 500 * GiB, 0),
        "disk": lambda path: Disk(Path(path), 500 * GiB, 1000 * GiB),
        "nvml": lambda: nvml("550.54.14", H100),
        "cpus": lambda: set(range(32)),
        "affinity": lambda: set(range(32)),
        "environ": {},
        # a tiny proof that ran on the GPU (tests/unit/test_gpu_fallback.py
        # has the ones that did not)
        "gpu_probe": lambda spec: {"snarks": 1, "fft_kernels": 2, "multiexp_kernels": 1},
    }
    return Readings(**{**values, **kw})


def test_a_cuda_worker_on_an_old_driver_and_a_foreign_cpuset(monkeypatch, tmp_path):
    """The build probes of a worker whose config could not even be read:
    what the doctor still says on such a host."""
    import prover.buildinfo

    monkeypatch.setattr(prover.buildinfo, "build_info", lambda: CUDA)
    readings = simulated(cpus=lambda: set(range(16)), affinity=lambda: set(range(16)))
    found = run_probes(plans.build_probes(0, "16-31", readings))
    status = {c.name: c.status for c in found}
    assert status["GPU"] == OK
    assert status["GPU driver"] == FAIL
    assert status["GPU proof"] == OK
    assert status["cpuset"] == FAIL


def test_a_host_set_up_by_the_systemd_units_is_found_in_etc_prover(tmp_path):
    """`prover doctor --role worker` on a host set up as the README says:
    the unit's config and the manager address in its environment file."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "worker.toml").write_text("concurrency = 2\n")
    (etc / "worker.env").write_text(
        "# prover-manager auth api-info --perm worker\n"
        'PROVER_API_INFO="worker.abc:mgr-a:9700,mgr-b:9700"\n'
    )
    options = roles.Options(home=tmp_path / "no-home", etc=etc)
    assert roles.detect_role(options) == ("worker", str(etc / "worker.toml"))
    assert options.unit_file("worker", ".toml") == etc / "worker.toml"
    assert options.unit_file("storage", ".toml") is None
    assert options.unit_file("manager", ".toml") is None

    class Config:
        api = ""

    readings = Readings(environ={})
    assert (
        plans.api_info(options, Config(), readings, "worker") == "worker.abc:mgr-a:9700,mgr-b:9700"
    )
    assert plans.api_info(options, Config(), readings, "storage") == ""
    readings = Readings(environ={"PROVER_API_INFO": "worker.env:h:1"})
    assert plans.api_info(options, Config(), readings, "worker") == "worker.env:h:1"
    (etc / "storage.toml").write_text("")  # both: the role must be named
    with pytest.raises(roles.RoleError):
        roles.detect_role(options)


def test_official_parameters_are_mended_by_fetching_them_again():
    from prover.doctor import params

    assert params.mend("32GiB", False) == "prover params fetch --sizes 32GiB"
    assert params.mend("64GiB", True) == "prover params fetch --sizes 64GiB --role manager"
    assert params.mend("2KiB", False).startswith("prover params generate --size 2KiB")


def test_the_config_checked_is_the_daemons_merge_of_file_and_flags(tmp_path):
    """The doctor reads a host's config as its daemon does (issue 27, item
    4): a file value a flag replaces is not refused, and an error names
    where each setting came from."""
    from prover.doctor.roles import Options, load_config

    worker = tmp_path / "worker.toml"
    worker.write_text('metrics_listen = "127.0.0.1:9"\napi = "nonsense"\n')
    config = load_config("worker", Options(config=worker, api="tok:127.0.0.1:9700", gpu=1))
    assert (config.api, config.gpu) == ("tok:127.0.0.1:9700", 1)

    storage = tmp_path / "storage.toml"
    storage.write_text(f'[[storage]]\nname = "a"\npath = "{tmp_path}"\n')
    with pytest.raises(Exception) as info:
        load_config("storage", Options(config=storage, storages=[("a", tmp_path)]))
    assert f"(from {storage} and --storage)" in str(info.value)
