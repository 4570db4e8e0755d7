"""Every problem hive-builder's zabbix can raise selects a check (--alert), and the checks behind
the triggers judge the signal the agent reads, on recorded outputs (tests/data/captured/SOURCES.md,
section zabbix/)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from test_more_checks import HIVES, REPO, ctx_of, result  # noqa: E402  (tests/unit is on sys.path)

from hivehealth.checks.test_inner_services import inner_services
from hivehealth.checks.test_inodes import inode_usage
from hivehealth.checks.test_selinux import selinux_denials
from hivehealth.checks.test_service_error_log import service_error_log
from hivehealth.checks.test_service_usage import service_usage
from hivehealth.checks.test_unit_restarts import unit_restarts
from hivehealth.checks.test_unreachable import reachability
from hivehealth.fixes.inodes import prune_docker_inodes
from hivehealth.judge import alerts
from hivehealth.parsers import agent
from hivehealth.judge.verdict import FAIL, OK, SKIP, UNKNOWN, WARN

ROOT = Path(__file__).resolve().parents[2]
ZAB = ROOT / "tests" / "data" / "captured" / "zabbix"
BUNDLE = ROOT / "tests" / "data" / "bundles" / "format1-example"


def zab(name: str) -> str:
    return (ZAB / name).read_text()


# ---------------------------------------------------------------- every trigger selects a check
# hive-builder's templates (roles/zabbix-server: hive-server*.xml, Template_App_systemd_Services,
# hive-repository-server.xml.j2, Template_Docker_Swarm_Services.xml.j2), names filled in, and the
# built-ins of "Template OS Linux by Zabbix agent" its docs/zabbix.rst lists, default macros.
TRIGGERS = [
    # (trigger text as zabbix names it, the check function it must select)
    ("DRBD resource ldap_data status is not UpToDate/Diskless client", "test_drbd"),
    ("Detect SELinux alert", "test_selinux"),
    ("At least one of the services is in a failed state", "test_units"),
    ("chronyd service has restarted", "test_unit_restarts"),
    ("Error Log Detected for Services", "test_service_error_log"),
    ("Service slapd in container ldap restarted (example)", "test_inner_services"),
    ("Service ldap replicas running percetage less than 100 (example)", "test_service"),
    ("Service ldap restarted (example)", "test_service"),
    ("At least one of the services in standalone type container ldap is in a failed state (example)",
     "test_inner_services"),
    ("Exceed 90% Docker volume ldap_data in ldap usage (example)", "test_volume"),
    ("Service ldap: High CPU usage (over 80% for 5m) (example)", "test_service_usage"),
    ("Service ldap: High memory usage (over 90% for 5m) (example)", "test_service_usage"),
    ("Service ldap: Replica count mismatch (example)", "test_service"),
    ("System time is out of sync (diff with Zabbix server > 60s)", "test_time"),
    ("Zabbix agent is not available (for 3m)", "test_unreachable"),
    ("/: Running out of free inodes (free < 20%)", "test_inodes"),
]


def _variants(text):
    """As given, with and without the ` (<h>)` suffix, and as a notification prefixes it."""
    bare = text[:-len(" (example)")] if text.endswith(" (example)") else text
    return sorted({text, bare, bare + " (example)", f"Problem: {text}", f"s-hive0.example: {bare}",
                   f"Problem: Linux: {bare}"})


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """The items the suite collects on a recorded four-server site that runs service ldap."""
    bundle = tmp_path_factory.mktemp("bundle") / "site"
    shutil.copytree(BUNDLE, bundle)
    host = bundle / "host-s-hive0.example.json"
    doc = json.loads(host.read_text())
    services = (ROOT / "tests" / "data" / "captured" / "lab" / "services-hive0.jsonl").read_text()
    doc["results"]["services"] = {"name": "services", "command": "docker service ls --format json",
                                  "rc": 0, "stdout": services, "stderr": ""}
    host.write_text(json.dumps(doc))
    p = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "--rootdir",
                        str(ROOT), "--replay", str(bundle), "--collect-only", "-q",
                        "-o", f"report_dir={bundle / 'reports'}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    items = [line.strip() for line in p.stdout.splitlines() if "::" in line]
    assert items, p.stdout + p.stderr
    return bundle, items


def _selected(items, keyword):
    """pytest's -k: the expression over case-insensitive substrings of each item's names."""
    expr = Expression.compile(keyword)
    out = []
    for item in items:
        path, name = item.split("::", 1)
        names = [name, Path(path).name, "checks"]
        if expr.evaluate(lambda s, **_: any(s.lower() in n.lower() for n in names)):
            out.append(name)
    return out


@pytest.mark.parametrize("text,function", TRIGGERS)
def test_every_zabbix_trigger_selects_its_check(collected, text, function):
    _, items = collected
    for variant in _variants(text):
        chosen = _selected(items, alerts.match(variant).keyword)
        assert chosen, f"{variant!r} selects no check"
        assert all(c.split("[")[0] == function for c in chosen), (variant, chosen)


def test_all_thirteen_template_triggers_and_three_built_ins_are_listed():
    templates = {alerts.match(t).trigger for t, _ in TRIGGERS}
    assert templates == {f"Z{i}" for i in range(1, 14)} | {"time", "agent", "inodes"}


@pytest.mark.parametrize("text,expected", [
    ("Problem: Service ldap: High CPU usage (over 80% for 5m) (example)",
     ["test_service_usage[ldap]"]),
    ("s-hive0.example: Linux: /var/lib/docker: Running out of free inodes (free < 20%)",
     [f"test_inodes[s-hive{i}.example]" for i in range(4)]),
    ("Zabbix agent is not available (for 3m)", [f"test_unreachable[s-hive{i}.example]" for i in range(4)]),
])
def test_alert_option_selects_them_in_a_real_run(collected, text, expected):
    bundle, _ = collected
    p = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "--rootdir",
                        str(ROOT), "--replay", str(bundle), "--collect-only", "-q", "--alert", text,
                        "-o", f"report_dir={bundle / 'reports'}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    chosen = sorted(line.split("::")[1] for line in p.stdout.splitlines() if "::" in line)
    assert chosen == sorted(expected), p.stdout + p.stderr


@pytest.mark.parametrize("text,trigger,obj", [
    # the runbook's own examples name their objects with Japanese placeholders
    ("Problem: Exceed 90% Docker volume ボリューム名 in サービス名 usage", "Z10", "ボリューム名"),
    ("Problem: Service サービス名: High CPU usage (over 80% for 5m)", "Z11", "サービス名"),
    ("Service サービス名 restarted", "Z8", "サービス名"),
    ("Service サービス名 in container サービス名 restarted", "Z6", "サービス名"),
    ("At least one of the services in standalone type container サービス名 is in a failed state",
     "Z9", "サービス名"),
])
def test_japanese_placeholders(text, trigger, obj):
    m = alerts.match(text)
    assert (m.trigger, m.object) == (trigger, obj)


# ---------------------------------------------------------------- SELinux (Z2)
# audit 3.0.9's ausearch (Debian auditd 1:3.0.9-1) over records in the kernel's format
def selinux_ctx(text, ini=None, rc=0):
    return ctx_of({h.name: [result("selinux", text, rc)] for h in HIVES + [REPO]}, ini=ini)


def test_selinux_denial_today_fails_naming_program_and_contexts():
    v = selinux_denials(selinux_ctx(zab("selinux-enforcing-denials.txt")), HIVES[0])
    assert v.status == FAIL, v.message()
    msg = v.message()
    assert "1 SELinux denial event(s) today" in msg
    assert "denied { getattr } comm=httpd scontext=system_u:system_r:httpd_t:s0" in msg
    assert "tcontext=unconfined_u:object_r:samba_share_t:s0 tclass=file" in msg
    assert "setenforce" not in msg            # zabbix drops `received ... notice`
    assert v.alert == "Detect SELinux alert"


def test_selinux_window_is_an_ini_option():
    st = agent.parse_selinux(zab("selinux-enforcing-denials.txt"))
    denial = max(r.time for r in st.records if not r.notice)
    newer = f"{st.now - denial - 1:.0f}"       # a window that ends just after the denial
    assert selinux_denials(selinux_ctx(zab("selinux-enforcing-denials.txt"),
                                       ini={"selinux_window": newer}), HIVES[0]).status == OK
    assert selinux_denials(selinux_ctx(zab("selinux-enforcing-denials.txt"),
                                       ini={"selinux_window": "boot"}), HIVES[0]).status == FAIL
    with pytest.raises(ValueError, match="selinux_window"):
        selinux_denials(selinux_ctx(zab("selinux-enforcing-denials.txt"),
                                    ini={"selinux_window": "week"}), HIVES[0])


def test_no_denials_passes_and_disabled_selinux_is_skipped_with_the_reason():
    assert selinux_denials(selinux_ctx(zab("selinux-enforcing-none.txt")), HIVES[0]).status == OK
    v = selinux_denials(selinux_ctx(zab("selinux-disabled.txt")), HIVES[0])
    assert v.status == SKIP and "SELinux is disabled" in v.message()
    v = selinux_denials(selinux_ctx("mode none\n"), HIVES[0])
    assert v.status == SKIP and "not installed" in v.message()


def test_ausearch_error_is_unknown_not_healthy():
    text = zab("selinux-enforcing-none.txt").replace("rc 1\n", "rc 1\n! Error opening /var/log/audit/audit.log (Permission denied)\n")
    v = selinux_denials(selinux_ctx(text), HIVES[0])
    assert v.status == UNKNOWN and "Permission denied" in v.message()


# ---------------------------------------------------------------- inodes
def inode_ctx(text, ini=None):
    return ctx_of({h.name: [result("df_inodes", text)] for h in HIVES + [REPO]}, ini=ini)


def _inodes_full(text, target="/", pct=93):
    """The build machine's real df -i with one filesystem's IUsed/IFree/IUse% set (EDITED)."""
    out = []
    for line in text.splitlines():
        cols = line.split()
        if cols and cols[-1] == target and cols[0] != "Filesystem":
            total = int(cols[2])
            used = total * pct // 100
            cols[3:6] = [str(used), str(total - used), f"{pct}%"]
            line = " ".join(cols)
        out.append(line)
    return "\n".join(out) + "\n"


def test_inodes_healthy_passes_and_full_fails_with_zabbix_text():
    real = zab("df_inodes-build-machine.txt")
    assert inode_usage(inode_ctx(real), HIVES[0]).status == OK
    v = inode_usage(inode_ctx(_inodes_full(real)), HIVES[0])
    assert v.status == FAIL and "/ has 93 % of its inodes in use (limit inode_usage_max 80 %" in v.message()
    assert v.alert == "/: Running out of free inodes (free < 20%)"
    assert inode_usage(inode_ctx(_inodes_full(real), ini={"inode_usage_max": "95"}), HIVES[0]).status == OK
    # zabbix fires at free < 20 %: 80 % used (df rounds up) does not
    assert inode_usage(inode_ctx(_inodes_full(real, pct=80)), HIVES[0]).status == OK


def test_inode_remedy_prunes_docker_only_where_docker_lives():
    real = zab("df_inodes-build-machine.txt")
    ctx = inode_ctx(_inodes_full(real))
    v = inode_usage(ctx, HIVES[0])
    plan = prune_docker_inodes.remedy.plan(ctx, HIVES[0], v)
    assert [s.command for s in plan.steps] == ["$SUDO docker system prune -f"]
    assert "du --inodes" in plan.diagnose[0].command
    # /dev on devtmpfs is not a real filesystem; make a separate data mount full instead
    other = real + "/dev/vdb ext4 1000 950 50 95% /srv/data\n"
    v = inode_usage(inode_ctx(other), HIVES[0])
    assert v.status == FAIL and "sudo du --inodes -x -d 2 /srv/data" in v.message()
    assert prune_docker_inodes.remedy.plan(ctx, HIVES[0], v).refused


def test_filesystems_without_an_inode_table_are_left_out():
    text = zab("df_inodes-build-machine.txt") + "/dev/vdc btrfs 0 0 0 - /srv/btrfs\n"
    v = inode_usage(inode_ctx(text), HIVES[0])
    assert v.status == OK and "/srv/btrfs" not in v.data["usage"]


# ---------------------------------------------------------------- reachability (agent not available)
def test_unreachable_server_is_one_item_named_for_it():
    ctx = ctx_of({h.name: [] for h in HIVES}, unreachable={REPO.name: "cannot connect: timed out"})
    v = reachability(ctx, REPO)
    assert v.status == FAIL and "unreachable: cannot connect: timed out" in v.message()
    assert v.alert == "Zabbix agent is not available (for 3m)"
    assert reachability(ctx, HIVES[0]).status == OK


def test_agent_unit_down_while_ssh_works():
    show = ("Id=zabbix-agent.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\n\n"
            "Id=zabbix-agent2.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n")
    v = reachability(ctx_of({HIVES[0].name: [result("zabbix_agent", show)]}), HIVES[0])
    assert v.status == FAIL and "zabbix-agent.service is inactive/dead" in v.message()


# ---------------------------------------------------------------- service error log (Z5)
# rsyslog's %timegenerated% (RFC 3164 stamp) as hive-builder's template writes the lines; the
# header lines are the section's own (hivehealth/checks/test_selinux.py and the other zabbix-parity check modules). 1796083200 = 2026-12-01 00:00 UTC.
NOW = 1796083200 + 6 * 3600          # 06:00 UTC


def errlog(lines, now=NOW, zone="+0000", mtime=None):
    body = "".join(f"| {ln}\n" for ln in lines)
    return (f"now {now} {zone} 2026\nfile /var/log/service-error.log {len(body)} {mtime or now - 60}\n"
            f"lines {len(lines)}\n{body}")


def errlog_ctx(text, ini=None):
    return ctx_of({REPO.name: [result("service_error_log", text)]}, ini=ini)


def test_error_lines_within_8_hours_fail_showing_the_newest():
    lines = ["Nov 30 20:59:00 s-hive3 ldap: ERROR: old, outside the 8 h window",
             "Dec  1 01:00:00 s-hive3 ldap: ERROR: cannot bind",
             "Dec  1 05:59:00 s-hive3 pdnsdb: Error: Table 'records' is full"]
    v = service_error_log(errlog_ctx(errlog(lines)), REPO)
    assert v.status == FAIL and "2 line(s) in /var/log/service-error.log within the last 28800 s" in v.message()
    assert "Table 'records' is full" in v.message() and "old, outside" not in v.message()
    assert "/var/log/services/<service>.log" in v.message()
    assert v.alert == "Error Log Detected for Services"
    only_one = service_error_log(errlog_ctx(errlog(lines), ini={"service_error_shown": "1"}), REPO)
    assert "cannot bind" not in only_one.message()


def test_error_log_lines_older_than_the_window_pass():
    lines = ["Nov 30 21:00:00 s-hive3 ldap: ERROR: 9 h ago"]
    assert service_error_log(errlog_ctx(errlog(lines, mtime=NOW - 9 * 3600)), REPO).status == OK
    assert service_error_log(errlog_ctx(errlog(lines), ini={"service_error_window": "36000"}),
                             REPO).status == FAIL


def test_error_log_stamps_in_the_servers_zone_and_iso_form():
    # 14:59 JST is 05:59 UTC: inside the window; an ISO stamp with its own offset likewise
    jst = service_error_log(errlog_ctx(errlog(["Dec  1 14:59:00 s-hive3 ldap: ERROR: x"], zone="+0900")), REPO)
    assert jst.status == FAIL
    iso = service_error_log(errlog_ctx(errlog(["2026-12-01T14:59:00.123+09:00 s-hive3 ldap: ERROR: y"])), REPO)
    assert iso.status == FAIL


def test_undated_recent_lines_fail_rather_than_pass():
    v = service_error_log(errlog_ctx(errlog(["ERROR: a line without a stamp"], mtime=NOW - 10)), REPO)
    assert v.status == FAIL and "carry no syslog time stamp" in v.message()


def test_missing_error_log_is_a_note_not_a_failure():
    v = service_error_log(errlog_ctx(f"now {NOW} +0000 2026\nnofile /var/log/service-error.log\n"), REPO)
    assert v.status == OK and "does not exist" in " ".join(v.notes)


def test_error_log_without_the_servers_clock_is_unknown():
    assert service_error_log(errlog_ctx("file /var/log/service-error.log 1 2\n"), REPO).status == UNKNOWN


# ---------------------------------------------------------------- restarted units (Z4)
def show_block(unit, enter_s, restarts=0, type_="simple", file_state="enabled", active="active",
               sub="running"):
    """One `systemctl show` block as systemd prints the properties asked (its own order)."""
    return (f"Type={type_}\nResult=success\nNRestarts={restarts}\nId={unit}\nLoadState=loaded\n"
            f"ActiveState={active}\nSubState={sub}\nActiveEnterTimestampMonotonic={int(enter_s * 1e6)}\n"
            f"UnitFileState={file_state}\n")


def restarts_text(blocks, uptime=100000.0, userspace_s=2.5):
    return f"uptime {uptime:.2f}\nuserspace {int(userspace_s * 1e6)}\n\n" + "\n".join(blocks)


def restarts_ctx(text, ini=None):
    return ctx_of({HIVES[1].name: [result("unit_restarts", text)]}, ini=ini)


def test_unit_restarted_by_systemd_within_180_s_fails_with_unit_and_count():
    text = restarts_text([show_block("chronyd.service", 100000 - 30, restarts=4),
                          show_block("sshd.service", 50000)])
    v = unit_restarts(restarts_ctx(text), HIVES[1])
    assert v.status == FAIL, v.message()
    assert "restarted by systemd: chronyd.service became active 30 s ago (within 180 s; NRestarts 4" in v.message()
    assert "sshd" not in v.message()
    # zabbix's own text (the unit name as list-unit-files column 1 gives it), which --alert selects
    assert v.alert == "chronyd.service service has restarted"
    assert v.data["restarted"] == {"chronyd.service": 4}
    assert alerts.match(v.alert).keyword == "test_unit_restarts"


def test_unit_started_again_by_hand_warns_and_outside_the_window_passes():
    hand = restarts_text([show_block("chronyd.service", 100000 - 30)])
    assert unit_restarts(restarts_ctx(hand), HIVES[1]).status == WARN
    old = restarts_text([show_block("chronyd.service", 100000 - 200, restarts=4)])
    assert unit_restarts(restarts_ctx(old), HIVES[1]).status == OK
    assert unit_restarts(restarts_ctx(old, ini={"unit_restart_window": "300"}), HIVES[1]).status == FAIL


def test_units_zabbix_does_not_discover_count_only_when_systemd_restarted_them():
    text = restarts_text([show_block("hive-backup.service", 100000 - 10, type_="oneshot"),
                          show_block("getty@tty1.service", 100000 - 10),
                          show_block("drbd-resource@ldap_data.service", 100000 - 10, restarts=2,
                                     file_state="disabled")])
    v = unit_restarts(restarts_ctx(text), HIVES[1])
    assert v.status == FAIL and list(v.data["restarted"]) == ["drbd-resource@ldap_data.service"]


def test_a_fresh_boot_counts_no_restart_as_zabbix_does():
    # systemd started 60 s ago (in a container the kernel's uptime is the host's)
    text = restarts_text([show_block("chronyd.service", 99990, restarts=1)],
                         uptime=100000, userspace_s=99940)
    v = unit_restarts(restarts_ctx(text), HIVES[1])
    assert v.status == OK and "less than unit_restart_window" in " ".join(v.notes)


def test_restarts_output_without_uptime_is_unknown():
    v = unit_restarts(restarts_ctx(show_block("chronyd.service", 5)), HIVES[1])
    assert v.status == UNKNOWN


# ---------------------------------------------------------------- standalone containers (Z6, Z9)
def inner_text(containers):
    out = []
    for cid, svc, rc, body in containers:
        out.append(f"container {cid} {svc}\nexit {rc}\n" + "".join(f"| {ln}\n" for ln in body.splitlines()))
    return "".join(out)


def inner_ctx(text, ini=None):
    return ctx_of({HIVES[0].name: [result("inner_services", text)]}, ini=ini)


CID = "3f1c" + "0" * 60


def test_failed_inner_service_fails_naming_container_and_unit():
    body = restarts_text([show_block("slapd.service", 50000),
                          show_block("crond.service", 50000, active="failed", sub="failed")])
    v = inner_services(inner_ctx(inner_text([(CID, "ldap", 0, body)])), HIVES[0])
    assert v.status == FAIL and "container ldap: failed inner service(s) crond.service" in v.message()
    assert v.alert == ("At least one of the services in standalone type container ldap is in a "
                       "failed state (lab)")


def test_inner_service_active_for_less_than_8_hours_warns():
    body = restarts_text([show_block("slapd.service", 100000 - 600, restarts=1)])
    v = inner_services(inner_ctx(inner_text([(CID, "ldap", 0, body)])), HIVES[0])
    assert v.status == WARN and "slapd.service (active for 600 s, NRestarts 1)" in v.message()
    assert v.alert == "Service slapd.service in container ldap restarted (lab)"
    assert inner_services(inner_ctx(inner_text([(CID, "ldap", 0, body)]),
                                     ini={"inner_restart_window": "300"}), HIVES[0]).status == OK


def test_no_standalone_container_is_a_skip_and_an_exec_error_is_unknown():
    v = inner_services(inner_ctx(""), HIVES[0])
    assert v.status == SKIP and "HIVE_STANDALONE=True" in v.message()
    err = inner_text([(CID, "ldap", 126, 'OCI runtime exec failed: exec failed: unable to start container '
                                         'process: exec: "sh": executable file not found in $PATH: unknown')])
    v = inner_services(inner_ctx(err), HIVES[0])
    assert v.status == UNKNOWN and "docker exec exited 126" in v.message()


# ---------------------------------------------------------------- service CPU / memory (Z11, Z12)
def stats_line(name, cpu, mem, usage="12.5MiB / 64MiB"):
    """docker stats --format '{{json .}}' (docker CLI 26: BlockIO, CPUPerc, Container, ID, MemPerc,
    MemUsage, Name, NetIO, PIDs)."""
    return json.dumps({"BlockIO": "0B / 0B", "CPUPerc": f"{cpu}%", "Container": "c" * 64,
                       "ID": "c" * 64, "MemPerc": f"{mem}%", "MemUsage": usage, "Name": name,
                       "NetIO": "0B / 0B", "PIDs": "1"}) + "\n"


def ps_line(name, svc):
    return json.dumps({"Names": name, "Labels": f"com.docker.swarm.task=,com.docker.swarm.service.name={svc}",
                       "ID": "c" * 64, "State": "running"}) + "\n"


def usage_ctx(per_hive, ini=None):
    facts = {}
    for hive, rows in per_hive.items():
        stats = "".join(stats_line(n, c, m) for n, _, c, m in rows)
        ps = "".join(ps_line(n, s) for n, s, _, _ in rows)
        facts[hive] = [result("service_stats", stats), result("containers", ps)]
    return ctx_of(facts, ini=ini)


def test_cpu_is_averaged_over_the_services_containers_against_80():
    ctx = usage_ctx({HIVES[0].name: [("web.1.abc", "web", "120.5", "10"), ("db.1.x", "db", "99", "1")],
                     HIVES[1].name: [("web.2.def", "web", "60.0", "10")]})
    v = service_usage(ctx, "web")
    assert v.status == FAIL and "CPU 90.2 %" in v.message() and "web.2.def on s-hive1.lab" in v.message()
    assert v.alert == "Service web: High CPU usage (over 80% for 5m) (lab)"
    assert service_usage(usage_ctx({HIVES[0].name: [("web.1.abc", "web", "70", "10")]}), "web").status == OK


def test_memory_above_90_percent_of_its_limit_fails():
    v = service_usage(usage_ctx({HIVES[0].name: [("db.1.x", "db", "1.0", "93.75")]}), "db")
    assert v.status == FAIL and "memory 93.8 % of its limit (service_memory_max 90 %)" in v.message()
    assert v.alert == "Service db: High memory usage (over 90% for 5m) (lab)"
    assert service_usage(usage_ctx({HIVES[0].name: [("db.1.x", "db", "1.0", "93.75")]},
                                   ini={"service_memory_max": "95"}), "db").status == OK


def test_unreadable_stats_are_unknown():
    ctx = ctx_of({HIVES[0].name: [result("service_stats", "not json\n")]})
    assert service_usage(ctx, "web").status == UNKNOWN


# ---------------------------------------------------------------- the same on the lab's real outputs
# systemd 257 / docker 26.1.5 / rsyslog on the hive lab (tests/data/captured/SOURCES.md, zabbix/)
def test_lab_crash_loop_right_after_boot_counts_only_with_a_window_shorter_than_the_uptime():
    text = zab("unit_restarts-hive1-lab-crashloop.txt")
    up, units = agent.parse_unit_starts(text)
    assert 20 < up < 30                       # systemd started 24 s before the capture
    v = unit_restarts(restarts_ctx(text), HIVES[1])
    assert v.status == OK and "less than unit_restart_window 180 s" in " ".join(v.notes)
    v = unit_restarts(restarts_ctx(text, ini={"unit_restart_window": "15"}), HIVES[1])
    assert v.status == FAIL and "hh-lab-crashloop.service" in v.message() and "NRestarts 2" in v.message()
    assert list(v.data["restarted"]) == ["hh-lab-crashloop.service"]


def test_lab_units_outputs_parse_whole():
    up, units = agent.parse_unit_starts(zab("unit_restarts-hive1-lab-healthy.txt"))
    assert len(units) > 20 and all(u.unit.endswith(".service") for u in units)
    assert any(u.unit == "ssh.service" and u.active_enter is not None for u in units)


def test_inner_units_read_through_docker_exec_have_the_hosts_shape():
    """systemctl inside a standalone container prints what it prints on a server: the lab's real
    output in the section's container framing."""
    body = zab("unit_restarts-hive1-lab-crashloop.txt").replace("hh-lab-crashloop.service", "slapd.service")
    text = inner_text([(CID, "ldap", 0, body)])
    [c] = agent.parse_inner_services(text)
    assert c.service == "ldap" and c.error is None and any(u.unit == "slapd.service" for u in c.units)
    v = inner_services(inner_ctx(text, ini={"inner_restart_window": "15"}), HIVES[0])
    assert v.status == WARN and "container ldap: inner service(s) active for less than 15 s" in v.message()
    assert "slapd.service" in v.message()


def lab_usage_ctx(ini=None):
    ps = "".join(ps_line(json.loads(ln)["Name"], json.loads(ln)["Name"].split(".")[0])
                 for h in range(3) for ln in zab(f"service_stats-hive{h}-lab-hogs.jsonl").splitlines())
    facts = {HIVES[h].name: [result("service_stats", zab(f"service_stats-hive{h}-lab-hogs.jsonl")),
                             result("containers", ps)] for h in range(3)}
    return ctx_of(facts, ini=ini)


def test_lab_busy_loop_and_tmpfs_hog_against_zabbix_thresholds():
    cpu = service_usage(lab_usage_ctx(), "hh-lab-cpu")
    assert cpu.status == FAIL and "CPU 83.1 %" in cpu.message()
    mem = service_usage(lab_usage_ctx(), "hh-lab-mem")
    assert mem.status == OK                   # 75.68 % of 64 MiB is under zabbix's 90
    mem = service_usage(lab_usage_ctx(ini={"service_memory_max": "50"}), "hh-lab-mem")
    assert mem.status == FAIL and "memory 75.7 % of its limit" in mem.message() and "48.44MiB / 64MiB" in mem.message()
    assert service_usage(lab_usage_ctx(), "ldap").status == OK


def test_lab_error_lines_and_the_absent_log():
    v = service_error_log(errlog_ctx(zab("service_error_log-repo-lab-errorlines.txt")), REPO)
    assert v.status == FAIL and "3 line(s)" in v.message() and "hh-lab-error line 3" in v.message()
    v = service_error_log(errlog_ctx(zab("service_error_log-repo-lab-healthy.txt")), REPO)
    assert v.status == OK


def test_lab_inode_hog_and_the_lab_without_selinux_or_agent():
    ctx = ctx_of({HIVES[2].name: [result("df_inodes", zab("df_inodes-hive2-lab-inodehog.txt"))]},
                 ini={"inode_usage_max": "5"})
    v = inode_usage(ctx, HIVES[2])
    assert v.status == FAIL and v.data["mounts"] == ["/var/lib/docker"] and v.data["docker"]
    assert "overlay2" not in " ".join(v.data["usage"])    # a container's merged view is not counted
    assert selinux_denials(selinux_ctx(zab("selinux-lab-debian.txt")), HIVES[0]).status == SKIP
    v = reachability(ctx_of({HIVES[0].name: [result("zabbix_agent", zab("zabbix_agent-hive0-lab.txt"))]}), HIVES[0])
    assert v.status == OK and "no zabbix agent unit is installed" in " ".join(v.notes)


def test_no_hive_answering_is_unknown_never_healthy():
    ctx = ctx_of({}, unreachable={h.name: "cannot connect: timed out" for h in HIVES})
    v = service_usage(ctx, "web")
    assert v.status == UNKNOWN and "no hive answered" in v.message()
    one_lost = ctx_of({HIVES[0].name: [result("service_stats", stats_line("web.1.a", "1", "1")),
                                       result("containers", ps_line("web.1.a", "web"))]},
                      unreachable={HIVES[1].name: "timed out", HIVES[2].name: "timed out"})
    v = service_usage(one_lost, "web")
    assert v.status == OK and "not read on s-hive1.lab, s-hive2.lab" in " ".join(v.notes)
