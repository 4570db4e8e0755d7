"""Service CPU and memory from the containers' cgroups, read at the probe's start and end: no
sampling wait, the window said, a burst shorter than it counted for its share only.

Real data: tests/data/captured/cgroup/v1-host-docker-two-readings.txt is the section's command
(hivehealth/checks/test_service_usage.py CGROUP_READING) run twice 0.5 s apart on this build
machine (Linux 6.18, cgroup v1, the hive lab's four server containers in the lab's docker engine).
cgroup v2 lines are written as the kernel documents the files (Documentation/admin-guide/
cgroup-v2.rst: cpu.stat usage_usec, memory.current, memory.max `max`, memory.stat inactive_file).
"""
import json
from pathlib import Path

import pytest

from hivehealth.checks.test_service_usage import CGROUP_READING, service_usage
from hivehealth.gather import sections
from hivehealth.gather.probe import Gatherer
from hivehealth.judge.verdict import FAIL, OK, UNKNOWN
from hivehealth.parsers import ParseError, cgroup
from hivehealth.site.inventory import Server, Site
from hivehealth.site.transport import Pool
from test_more_checks import HIVES, ctx_of, result

DATA = Path(__file__).resolve().parents[1] / "data" / "captured" / "cgroup"
ID = {n: f"{n:x}" * 64 for n in (10, 11, 12)}       # "aaaa...", "bbbb...", "cccc..."


def test_real_v1_readings_give_docker_stats_figures():
    start, end = cgroup.parse_readings((DATA / "v1-host-docker-two-readings.txt").read_text())
    assert 0.4 < end.time - start.time < 5 and end.mem_total == 24683772 * 1024
    assert len(start.containers) == len(end.containers) == 6
    s0 = "db036d9d92abea44b3254ecff59a02b1e1376e40f08dbdd9b3040d73de9f1dc3"   # s-hive0
    c = start.containers[s0]
    assert c.cpu_ns == 3904934349 and c.mem_usage == 105398272
    assert c.inactive_file == 19443712           # v1: the hierarchy's total_inactive_file, as docker
    u = cgroup.usage(start, end)[s0]
    assert u.mem_limit == end.mem_total          # no limit (v1's huge number): the host's memory
    assert u.mem_bytes == end.containers[s0].mem_usage - end.containers[s0].inactive_file
    assert 0 <= u.cpu_pct < 200 and u.mem_pct == pytest.approx(u.mem_bytes / u.mem_limit * 100)


def v2(cid, usec, current, limit="max", inactive=0, scope=True):
    d = f"/sys/fs/cgroup/system.slice/docker-{cid}.scope" if scope else f"/sys/fs/cgroup/docker/{cid}"
    return (f"cpu_usec {d} {usec}\nmem_usage {d} {current}\nmem_limit {d} {limit}\n"
            f"inactive_file {d} {inactive}\n")


def readings(t0, t1, start_rows, end_rows, mem_total_kib=4 * 2 ** 20):
    head = f"MemTotal:        {mem_total_kib} kB\n"
    return f"reading {t0}\n{head}{''.join(start_rows)}reading {t1}\n{head}{''.join(end_rows)}"


def test_v2_cpu_is_cpu_time_over_the_window_and_memory_less_its_cache_of_its_limit():
    text = readings(100.0, 100.8,
                    [v2(ID[10], 5_000_000, 1), v2(ID[11], 1_000, 1, scope=False)],
                    [v2(ID[10], 5_760_000, 96 * 2 ** 20, 128 * 2 ** 20, 32 * 2 ** 20),
                     v2(ID[11], 1_000, 2 ** 30, scope=False), v2(ID[12], 9, 9)])
    start, end = cgroup.parse_readings(text)
    u = cgroup.usage(start, end)
    assert set(u) == {ID[10], ID[11]}            # one that started during the probe has no window
    assert u[ID[10]].cpu_pct == pytest.approx(95.0) and u[ID[10]].mem_pct == pytest.approx(50.0)
    assert u[ID[11]].cpu_pct == 0 and u[ID[11]].mem_limit == 4 * 2 ** 30 and u[ID[11]].mem_pct == 25.0


@pytest.mark.parametrize("text, why", [
    ("cpu_usec /sys/fs/cgroup/docker/x 1\n", "before any 'reading' line"),
    ("reading soon\n", "no time after 'reading'"),
    (f"reading 1\ncpu_usec /sys/fs/cgroup/docker/{ID[10]} lots\n", "not a whole number"),
    ("reading 1\nsomething else\n", "unexpected"),
])
def test_unreadable_readings_are_parse_errors(text, why):
    with pytest.raises(ParseError, match=why):
        cgroup.parse_readings(text)


def ps(cid, name, svc):
    return json.dumps({"ID": cid, "Names": name, "State": "running",
                       "Labels": f"com.docker.swarm.task=,com.docker.swarm.service.name={svc}"}) + "\n"


def cpu_ctx(cpu_seconds, window=1.0, ini=None):
    """web's one container on s-hive0 used cpu_seconds of CPU time during a probe of `window` s."""
    text = readings(50.0, 50.0 + window, [v2(ID[10], 7_000_000, 2 ** 20, 64 * 2 ** 20)],
                    [v2(ID[10], 7_000_000 + int(cpu_seconds * 1e6), 2 ** 20, 64 * 2 ** 20)])
    facts = {HIVES[0].name: [result("service_cpu", text), result("containers", ps(ID[10], "web.1.x", "web"))]}
    for h in HIVES[1:]:
        facts[h.name] = [result("service_cpu", readings(1, 2, [], [])), result("containers", "")]
    return ctx_of(facts, ini=ini)


def test_a_busy_container_fails_naming_the_window_its_cpu_covers():
    v = service_usage(cpu_ctx(0.97), "web")
    assert v.status == FAIL and v.alert == "Service web: High CPU usage (over 80% for 5m) (lab)"
    assert ("CPU 97.0 % over 1.00 s (the probe's run: cgroup CPU time at its start and end) (100 = one "
            "core; service_cpu_max 80 %), averaged over 1 container(s): web.1.x on s-hive0.lab: CPU 97.0%, "
            "memory 1.56% (1.0MiB / 64.0MiB)") in v.message()
    assert v.data["cpu_window"].startswith("over 1.00 s")


def test_a_burst_shorter_than_the_window_counts_for_its_share_only():
    # a full core for 0.3 s of a 1 s probe: 30 %, not the burst's 100 %
    v = service_usage(cpu_ctx(0.3), "web")
    assert v.status == OK and v.data["cpu"] == pytest.approx(30.0)
    assert service_usage(cpu_ctx(0.3, ini={"service_cpu_max": "25"}), "web").status == FAIL


def test_a_single_reading_or_no_docker_ps_is_unknown_never_fine():
    one = readings(1, 2, [], [])[: readings(1, 2, [], []).index("reading 2")]
    ctx = ctx_of({h.name: [result("service_cpu", one), result("containers", "")] for h in HIVES})
    v = service_usage(ctx, "web")
    assert v.status == UNKNOWN and "1 reading(s), expected the probe's start and end" in v.message()
    # the readings name containers by ID: without docker ps nobody knows whose they are
    ctx = ctx_of({h.name: [result("service_cpu", readings(1, 2, [], []))] for h in HIVES})
    v = service_usage(ctx, "web")
    assert v.status == UNKNOWN and "`containers` was not gathered" in v.message()


def test_the_probe_reads_an_around_section_before_and_after_the_others(monkeypatch):
    monkeypatch.setitem(sections.SECTIONS, "t_around", ("all", "echo \"reading $(date +%s.%N)\""))
    monkeypatch.setattr(sections, "AROUND", sections.AROUND | {"t_around"})
    monkeypatch.setattr("hivehealth.gather.probe.AROUND", sections.AROUND)
    monkeypatch.setitem(sections.SECTIONS, "t_mid", ("all", "sleep 0.2; date +%s.%N"))
    site = Site("local", [Server("local", spec="local")])
    facts = Gatherer(site, Pool(), 10).gather_host(site.servers[0], ["t_around", "t_mid"])
    start, end = cgroup.parse_readings(facts.get("t_around").stdout)
    mid = float(facts.get("t_mid").stdout)
    assert start.time < mid < end.time


def test_the_reading_command_runs_in_sh_and_parses_here():
    import subprocess
    outs = [subprocess.run(["sh", "-c", CGROUP_READING], capture_output=True, text=True, timeout=30)
            for _ in range(2)]
    assert all(o.returncode == 0 for o in outs), [o.stderr for o in outs]
    start, end = cgroup.parse_readings(outs[0].stdout + outs[1].stdout)
    assert start.time < end.time and start.mem_total
