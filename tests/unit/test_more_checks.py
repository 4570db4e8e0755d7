"""The checks beyond the runbook, on recorded outputs (tests/data/captured/SOURCES.md).

Each check is called directly with a Context built from HostFacts/CommandResult, as the plugin
would after gathering: it must fail on its fault with the right message and pass when healthy.
Fault variants are made from the real captures by the small, named edits below.
"""
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hivehealth.checks.test_backup import backup_fresh  # noqa: E402
from hivehealth.parsers import ParseError  # noqa: E402
from hivehealth.parsers.time import parse_clock  # noqa: E402
from hivehealth.parsers.backup import FailLine, latest_link_name, parse_backup_files, parse_backup_journal  # noqa: E402
from hivehealth.checks.test_drbd_units import drbd_units_active  # noqa: E402
from hivehealth.checks.test_hive_state import hive_state  # noqa: E402
from hivehealth.checks.test_hostkeys import host_key  # noqa: E402
from hivehealth.checks.test_registry_api import registry_api  # noqa: E402
from hivehealth.checks.test_spread import service_spread  # noqa: E402
from hivehealth.checks.test_swarm import node_state  # noqa: E402
from hivehealth.checks.test_thinpool import thinpool_usage  # noqa: E402
from hivehealth.checks.test_time import clock_skew, measure_skew  # noqa: E402
from hivehealth.fixes.spread import rebalance_service  # noqa: E402
from hivehealth.fixes.time import restart_chronyd  # noqa: E402
from hivehealth.judge.context import Context  # noqa: E402
from hivehealth.gather.probe import SECTIONS, CommandResult, HostFacts  # noqa: E402
from hivehealth.checks import modules as check_modules  # noqa: E402
from hivehealth.gather.sections import DECLARED_BY  # noqa: E402
from hivehealth.options import INI  # noqa: E402
from hivehealth.site.inventory import Server, Site  # noqa: E402
from hivehealth.judge.cluster import no_manager_answered  # noqa: E402
from hivehealth.parsers.lvm import parse_lvs_json  # noqa: E402
from hivehealth.judge.verdict import FAIL, OK, SKIP, UNKNOWN  # noqa: E402

CAP = ROOT / "tests" / "data" / "captured"
LAB = CAP / "lab"


def cap(name: str) -> str:
    return (CAP / name).read_text()


def lab(name: str) -> str:
    return (LAB / name).read_text()


HIVES = [Server(f"s-hive{i}.lab", frozenset({"hive"} | ({"first_hive"} if i == 0 else set())), "hive")
         for i in range(3)]
REPO = Server("s-hive3.lab", frozenset({"repository"}), "hive")


def make_site(**kw):
    d = dict(kind="hive", servers=HIVES + [REPO], name="lab", stage="staging", root="/site",
             context_dir="/site/.hive/staging", drbd_device_map={"ldap_data": 1})
    d.update(kw)
    return Site(**d)


def result(name, stdout="", rc=0, stderr=""):
    return CommandResult(name, SECTIONS.get(name, ("", name))[1], rc, stdout, stderr)


def ctx_of(results_by_host: dict, site=None, ini=None, gathered_at=1795912013.0, seconds=0.4, unreachable=None):
    facts = {}
    for host, results in results_by_host.items():
        facts[host] = HostFacts(host, {r.name: r for r in results}, (unreachable or {}).get(host),
                                gathered_at, seconds)
    for host, why in (unreachable or {}).items():
        facts.setdefault(host, HostFacts(host, {}, why, gathered_at, seconds))
    ini = ini or {}

    def getini(name):           # like config.getini: unknown names raise ValueError
        if name in ini:
            return ini[name]
        raise ValueError(f"unknown configuration value: {name!r}")
    return Context(site or make_site(), facts, getini)


# ---------------------------------------------------------------- ini helper
def test_unregistered_ini_falls_back_to_default_and_registered_wins():
    ctx = ctx_of({})
    assert ctx.ini("backup_max_age") == INI["backup_max_age"][1] == "26"
    assert ctx.number("backup_max_age", unit="h") == 26
    assert ctx_of({}, ini={"backup_max_age": "50h"}).number("backup_max_age", unit="h") == 50


def test_each_area_declares_its_sections_and_none_carries_a_secret():
    check_modules()
    for name, module in [("backup_files", "test_backup"), ("drbd_units", "test_drbd_units"), ("lvs", "test_thinpool"),
                         ("timesync", "test_time"), ("registry_api", "test_registry_api"), ("df", "test_disk")]:
        assert DECLARED_BY[name] == f"hivehealth.checks.{module}" and name in SECTIONS
    text = " ".join(cmd for _, cmd in SECTIONS.values())
    assert "registry_password" not in text and "-u hive:" not in text


# ---------------------------------------------------------------- backup
BACKUP_NOW = parse_backup_files(lab("backup_files-repo-healthy.txt"))["now"]   # `now` of the capture
CLOCK = float(lab("clock-repo-healthy.txt"))     # the repository's `date +%s.%N` in the capture


def backup_ctx(files=None, units=None, journal=None, ini=None):
    return ctx_of({REPO.name: [result("backup_files", files if files is not None else lab("backup_files-repo-healthy.txt")),
                               result("backup_units", units if units is not None else lab("backup_units-repo-healthy.txt")),
                               result("backup_journal", journal if journal is not None else lab("backup_journal-repo-healthy.txt"))]},
                  ini=ini)


def test_backup_healthy_lab_capture_passes():
    v = backup_fresh(backup_ctx(), REPO)
    assert v.status == OK, v.message()


def test_backup_stale_link_fails_with_age_limit_and_rerun():
    # edit: the repository's clock moved 30 h past the link's file (same as a file 30 h old)
    files = lab("backup_files-repo-healthy.txt").replace(f"now {BACKUP_NOW}", f"now {BACKUP_NOW + 30 * 3600}")
    v = backup_fresh(backup_ctx(files), REPO)
    assert v.status == FAIL
    msg = v.message()
    assert "backup of hive-registry is stale" in msg and "30.0 h old" in msg
    assert "limit backup_max_age 26 h" in msg and "hive-backup.sh -l hive-registry" in msg
    assert "s-hive3.lab" in msg and "https://hive-builder.readthedocs.io/ja/latest/backup.html" in msg
    # a site that allows 48 h passes
    assert backup_fresh(backup_ctx(files, ini={"backup_max_age": "48"}), REPO).status == OK


def test_backup_expected_link_never_written_and_dangling_link():
    files = lab("backup_files-repo-healthy.txt") + \
        "service ldap\nexpect ldap backup-ldapdb-latest.sql\n"
    files = re.sub(r"(link \S+) \d+ ", r"\1 - ", files)      # edit: the link's target is gone
    v = backup_fresh(backup_ctx(files), REPO)
    msg = v.message()
    assert v.status == FAIL
    assert "backup of ldap was never written: no /home/admin/backup/backup-ldapdb-latest.sql" in msg
    assert "hive-backup.sh -l ldap" in msg
    assert "dangling link" in msg


def test_backup_fail_line_in_last_run_fails_although_exit_was_0():
    # the real hive-backup.sh messages (hive-builder roles/backup-tools)
    journal = lab("backup_journal-repo-healthy.txt") + \
        "INFO: hive-backup.sh: ENTER SERVICE hive-zabbix for BACKUP\n" \
        "INFO: hive-backup.sh: FAIL backup for hive-zabbix\n"
    v = backup_fresh(backup_ctx(journal=journal), REPO)
    assert v.status == FAIL
    assert "printed `INFO: hive-backup.sh: FAIL backup for hive-zabbix`" in v.message()
    assert "hive-backup.sh -l hive-zabbix" in v.message()


def test_backup_fail_line_is_cleared_only_by_a_rerun_after_that_run():
    # edit: the registry target FAILed in the last backup.service run (its real message); the
    # operator then reran `hive-backup.sh -l hive-registry`, which does not go through
    # backup.service: its journal keeps the FAIL, the -latest file is newer than the run's end
    journal = lab("backup_journal-repo-healthy.txt").replace(
        "INFO: hive-backup.sh: backup for hive-registry done", "INFO: hive-backup.sh: FAIL backup for hive-registry")
    files = lab("backup_files-repo-healthy.txt")
    mtime = parse_backup_files(files)["links"]["backup-hive-registry-latest.tar.gz"][0]
    assert parse_backup_files(files + f"lastrun {mtime - 60}\n")["lastrun"] == mtime - 60
    # no rerun since (the file is older than the run's end), or the end is unknown: still a failure
    for extra in (f"lastrun {mtime + 5}\n", ""):
        v = backup_fresh(backup_ctx(files=files + extra, journal=journal), REPO)
        assert v.status == FAIL, v.message()
        assert "FAIL backup for hive-registry" in v.message() and "hive-backup.sh -l hive-registry" in v.message()
    v = backup_fresh(backup_ctx(files=files + f"lastrun {mtime - 60}\n", journal=journal), REPO)
    assert v.status == OK, v.message()
    assert any("written after that run ended" in n for n in v.notes)
    # a rerun by hand that ends in the same second as the run (seen in the lab): sub-second times
    v = backup_fresh(backup_ctx(files=files + f"lastrun {mtime - 0.3:.6f}\n", journal=journal), REPO)
    assert v.status == OK, v.message()
    v = backup_fresh(backup_ctx(files=files + f"lastrun {mtime + 0.3:.6f}\n", journal=journal), REPO)
    assert v.status == FAIL, v.message()
    # a FAIL of another target is not cleared by the registry's newer file
    other = journal + "INFO: hive-backup.sh: FAIL backup for hive-zabbix\n"
    v = backup_fresh(backup_ctx(files=files + f"lastrun {mtime - 60}\n", journal=other), REPO)
    assert v.status == FAIL and "hive-backup.sh -l hive-zabbix" in v.message()
    assert "hive-backup.sh -l hive-registry" not in v.message()


@pytest.mark.parametrize("capture, expect", [
    ("backup_units-timer-disabled.txt", "backup.timer is inactive/dead (expected active)"),
    ("backup_units-timer-masked.txt", "backup.timer is masked (expected loaded, enabled, active)"),
])
def test_backup_timer_not_running_is_a_fault(capture, expect):
    # edit: the real show output of another timer (Id renamed to backup.timer)
    units = lab(capture).replace("Id=chrony-dnssrv@x.timer", "Id=backup.timer").replace("Id=fstrim.timer", "Id=backup.timer")
    v = backup_fresh(backup_ctx(units=units), REPO)
    assert v.status == FAIL and expect in v.message(), v.message()


def test_backup_without_script_skips_and_unreadable_is_not_passed():
    v = backup_fresh(backup_ctx(files="script -\n"), REPO)
    assert v.status == SKIP and "hive-backup.sh is not installed" in v.message()
    ctx = ctx_of({REPO.name: [result("backup_files", "", rc=1, stderr="sh: 1: cannot open\n")]})
    assert backup_fresh(ctx, REPO).status == UNKNOWN
    ctx = ctx_of({}, unreachable={REPO.name: "connect to s-hive3.lab timed out"})
    assert backup_fresh(ctx, REPO).status == FAIL


def test_backup_journal_missing_for_a_run_is_unknown():
    v = backup_fresh(backup_ctx(journal=""), REPO)
    assert v.status == UNKNOWN and "not in the journal" in v.message()


def test_parse_backup_files_reads_links_and_expectations():
    b = parse_backup_files(lab("backup_files-repo-healthy.txt"))
    assert b["script"] == "/usr/bin/hive-backup.sh" and b["dir"] == "/home/admin/backup"
    (mtime, target), = b["links"].values()
    assert list(b["links"]) == ["backup-hive-registry-latest.tar.gz"]
    assert target.startswith("backup-hive-registry-2") and 0 <= b["now"] - mtime < 3600
    assert latest_link_name("backup-hive-registry-latest.tar.gz") == "hive-registry"
    assert latest_link_name("backup-ldap-latest.ldif") == "ldap" and latest_link_name("notes.txt") is None


def test_parse_backup_journal_finds_the_fail_lines_and_the_service_they_were_in():
    # the lab's real journal, then hive-backup.sh's own messages (hive-builder roles/backup-tools):
    # a FAIL inside a service, a FAIL of a named target, and a restore of a host
    healthy = lab("backup_journal-repo-healthy.txt")
    assert parse_backup_journal(healthy) == []
    journal = healthy + ("INFO: hive-backup.sh: ENTER SERVICE ldap for BACKUP\n"
                         "INFO: hive-backup.sh: FAIL backup for ldap\n")
    assert parse_backup_journal(journal) == [FailLine("INFO: hive-backup.sh: FAIL backup for ldap", "ldap", "ldap")]
    other = healthy.replace("INFO: hive-backup.sh: backup for hive-registry done",
                            "INFO: hive-backup.sh: FAIL backup for hive-registry")
    assert parse_backup_journal(other) == [FailLine("INFO: hive-backup.sh: FAIL backup for hive-registry", None,
                                                    "hive-registry")]
    restore = "INFO: hive-backup.sh: FAIL restore for host s-hive3.lab\nFAILED backups: none\n"
    assert parse_backup_journal(restore) == [FailLine("INFO: hive-backup.sh: FAIL restore for host s-hive3.lab",
                                                      None, "s-hive3.lab")]


# ---------------------------------------------------------------- drbd units
def units_ctx(text, site=None, rc=0):
    return ctx_of({h.name: [result("drbd_units", text, rc)] for h in HIVES}, site=site)


def test_drbd_units_healthy_lab_capture_passes():
    assert drbd_units_active(units_ctx(lab("drbd_units-hive0-healthy.txt")), HIVES[0]).status == OK


def test_drbd_unit_inactive_fails_and_says_docker_will_not_start():
    # the real show output of an instance that never started, for the site's volume
    text = lab("drbd_units-instance-never-started.txt").replace("nosuch", "ldap_data")
    v = drbd_units_active(units_ctx(text), HIVES[1])
    msg = v.message()
    assert v.status == FAIL
    assert "s-hive1.lab" in msg and "drbd-resource@ldap_data.service is inactive/dead" in msg
    assert "expected active" in msg and "docker will not start" in msg
    # start, not restart: docker.service Requires= the unit, so a restart restarts docker too
    assert "sudo systemctl start drbd-resource@ldap_data.service" in msg
    assert "systemctl restart drbd-resource" not in msg


def test_drbd_unit_unknown_on_hive_fails_and_empty_map_skips():
    v = drbd_units_active(units_ctx(""), HIVES[0])
    assert v.status == FAIL and "hive build-volumes -l ldap_data" in v.message()
    v = drbd_units_active(units_ctx("", site=make_site(drbd_device_map={})), HIVES[0])
    assert v.status == SKIP and "drbd_device_map" in v.message()


# ---------------------------------------------------------------- thin pool
def lvs_ctx(stdout, rc=0, stderr="", ini=None):
    return ctx_of({h.name: [result("lvs", stdout, rc, stderr)] for h in HIVES}, ini=ini)


def test_thinpool_full_fails_with_both_limits():
    v = thinpool_usage(lvs_ctx(cap("lvm/lvs-json-thinpool-data-full-EDITED.json")), HIVES[0])
    msg = v.message()
    assert v.status == FAIL
    assert "drbdvg/drbdpool data is 93.75 % used (limit thinpool_data_max 80 %)" in msg
    assert "metadata is 81.02 % used (limit thinpool_metadata_max 80 %)" in msg
    assert "overcommitted" in msg and "s-hive0.lab" in msg


def test_thinpool_healthy_passes_and_limits_come_from_ini():
    assert thinpool_usage(lvs_ctx(cap("lvm/lvs-json-thinpool-healthy-EDITED.json")), HIVES[0]).status == OK
    ctx = lvs_ctx(cap("lvm/lvs-json-thinpool-healthy-EDITED.json"), ini={"thinpool_data_max": "40"})
    assert thinpool_usage(ctx, HIVES[0]).status == FAIL


def test_thinpool_not_applicable_skips_and_broken_pool_fails():
    # the hive lab: lvs is not installed (real capture)
    v = thinpool_usage(lvs_ctx("", 127, lab("lvs-hive0-healthy.txt.stderr")), HIVES[0])
    assert v.status == SKIP and "no LVM" in v.message()
    v = thinpool_usage(lvs_ctx(cap("lvm/lvs-json-no-vg-real.json")), HIVES[0])
    assert v.status == SKIP and "no VG drbdvg" in v.message()
    # real capture: drbdvg with plain (not thin) LVs named drbdpool and ldap_data
    v = thinpool_usage(lvs_ctx(cap("lvm/lvs-json-linear-no-dm-real.json")), HIVES[0])
    assert v.status == FAIL and "is not a thin pool (lv_attr -wi-XX----)" in v.message()
    v = thinpool_usage(lvs_ctx("", 5, "  /dev/mapper/control: open failed"), HIVES[0])
    assert v.status == UNKNOWN


def test_parse_lvs_real_layout():
    lvs = parse_lvs_json(cap("lvm/lvs-json-linear-no-dm-real.json"))
    assert [(x.vg, x.name, x.size, x.data_percent) for x in lvs] == [
        ("drbdvg", "drbdpool", 54525952, None), ("drbdvg", "ldap_data", 8388608, None)]


# ---------------------------------------------------------------- time
def time_ctx(clock: str, timesync: str, gathered_at=1795912013.0, seconds=0.4, ini=None,
             tracking: str | None = None):
    tracking = cap("chrony/tracking-synchronised.txt") if tracking is None else tracking
    return ctx_of({REPO.name: [result("clock", clock), result("timesync", timesync),
                               result("chrony_tracking", tracking)]},
                  gathered_at=gathered_at, seconds=seconds, ini=ini)


def test_time_healthy_lab_capture_passes():
    # the capture's date taken 0.6 s after the mother's reading, within a 1 s probe
    v = clock_skew(time_ctx(lab("clock-repo-healthy.txt"), lab("timesync-repo-healthy.txt"),
                            gathered_at=CLOCK - 0.6, seconds=1.0), REPO)
    assert v.status == OK, v.message()
    assert v.data["timesync_unit"] == "chrony.service"


def test_time_running_chronyd_without_a_source_fails():
    never = cap("chrony/tracking-no-source-real.txt")
    v = clock_skew(time_ctx(lab("clock-repo-healthy.txt"), lab("timesync-repo-healthy.txt"),
                            gathered_at=CLOCK - 0.6, seconds=1.0, tracking=never), REPO)
    assert v.status == FAIL and "never synchronised" in v.message()
    assert "chronyd_inactive" not in v.data      # a restart does not give it a source


def test_time_chronyd_with_its_local_reference_is_synchronised():
    v = clock_skew(time_ctx(lab("clock-repo-healthy.txt"), lab("timesync-repo-healthy.txt"),
                            gathered_at=CLOCK - 0.6, seconds=1.0,
                            tracking=cap("chrony/tracking-local-stratum-real.txt")), REPO)
    assert v.status == OK, v.message()
    assert v.data["chrony_offset"] == 0.0


def test_time_chronyc_without_its_daemon_is_unknown():
    ctx = ctx_of({REPO.name: [result("clock", lab("clock-repo-healthy.txt")),
                              result("timesync", lab("timesync-repo-healthy.txt")),
                              result("chrony_tracking", "", 1, cap("chrony/tracking-daemon-gone-real.txt.stderr"))]},
                 gathered_at=CLOCK - 0.6, seconds=1.0)
    v = clock_skew(ctx, REPO)
    assert v.status == UNKNOWN and "chronyc cannot ask chrony.service" in v.message()
    assert "Could not open connection to daemon" in v.message()


def test_time_skew_fails_with_value_limit_and_faq():
    # the mother's window starts 20 s after the server's reading
    v = clock_skew(time_ctx(lab("clock-repo-healthy.txt"), lab("timesync-repo-healthy.txt"),
                            gathered_at=CLOCK + 19.4, seconds=0.5), REPO)
    msg = v.message()
    assert v.status == FAIL
    assert "clock is 19.4 s behind the mother's (limit clock_skew_max 5 s)" in msg
    assert "FAQ 7.15" in msg and "systemctl restart chronyd" in msg and "s-hive3.lab" in msg
    plan = restart_chronyd.remedy.plan(None, REPO, v)
    assert plan.tier == "safe" and plan.steps[0].command == "$SUDO systemctl restart -- chrony.service"


def test_time_measure_skew_allows_for_the_exec_duration():
    assert measure_skew(105.0, 100.0, 10.0) == 0.0
    assert measure_skew(97.0, 100.0, 10.0) == -3.0
    assert measure_skew(112.5, 100.0, 10.0) == 2.5


def test_time_chronyd_stopped_fails_and_slow_probe_is_unknown():
    ts = lab("timesync-repo-healthy.txt").replace("ActiveState=active\nSubState=running",
                                                  "ActiveState=inactive\nSubState=dead", 1)
    v = clock_skew(time_ctx(lab("clock-repo-healthy.txt"), ts, gathered_at=CLOCK - 0.5, seconds=1.0), REPO)
    assert v.status == FAIL and "chrony.service (chronyd) is inactive/dead (expected active)" in v.message()
    assert restart_chronyd.remedy.plan(None, REPO, v).steps
    v = clock_skew(time_ctx(lab("clock-repo-healthy.txt"), lab("timesync-repo-healthy.txt"),
                            gathered_at=CLOCK - 8, seconds=12.0), REPO)
    assert v.status == UNKNOWN and "cannot be compared" in v.message()


def test_time_no_daemon_at_all_fails_and_plan_is_refused():
    ts = ("LoadState=not-found\nId=chronyd.service\nActiveState=inactive\nSubState=dead\n\n"
          "Id=systemd-timesyncd.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n")
    v = clock_skew(time_ctx(lab("clock-repo-healthy.txt"), ts, gathered_at=CLOCK - 0.5, seconds=1.0), REPO)
    assert v.status == FAIL and "no time sync daemon" in v.message()
    assert restart_chronyd.remedy.plan(None, REPO, v).refused


def test_parse_clock_reads_date_and_an_unreadable_clock_is_unknown():
    assert parse_clock(lab("clock-repo-healthy.txt")) == 1795912071.717385048    # the lab's `date +%s.%N`
    with pytest.raises(ParseError, match=r"date \+%s\.%N: not a time: 'date: invalid date'"):
        parse_clock("date: invalid date\n")
    v = clock_skew(time_ctx("%s.%N\n", lab("timesync-repo-healthy.txt"), gathered_at=CLOCK, seconds=0.1), REPO)
    assert v.status == UNKNOWN and "cannot read the clock: `date +%s.%N` printed '%s.%N'" in v.message()


# ---------------------------------------------------------------- registry API
def test_registry_api_lab_http_passes_and_tls_401_fails():
    ctx = ctx_of({REPO.name: [result("registry_api", lab("registry_api-repo-healthy.txt"))]})
    assert registry_api(ctx, REPO).status == OK
    tls = "mode tls\nurl https://s-hive3.lab:5000/v2/\nuser hive\ncurl 0\ncode 401\n"
    v = registry_api(ctx_of({REPO.name: [result("registry_api", tls)]}), REPO)
    assert v.status == FAIL and "HTTP 401 (expected 200)" in v.message()
    assert "https://s-hive3.lab:5000/v2/" in v.message()


def test_registry_certificate_error_is_named_without_curls_help_text():
    # curl 7.76's stderr after a verify failure: its error line, then help text
    err = ("curl: (60) SSL certificate problem: certificate has expired\n"
           "More details here: https://curl.se/docs/sslcerts.html\n\n"
           "curl failed to verify the legitimacy of the server and therefore could not\n"
           "establish a secure connection to it. To learn more about this situation and\n"
           "how to fix it, please visit the web page mentioned above.\n")
    tls = ("mode tls\nurl https://s-hive3.lab:5000/v2/\nuser hive\ncurl 60\ncode 000\n"
           "notbefore Nov 30 03:12:45 2025 GMT\nnotafter Nov 30 03:12:45 2026 GMT\nnow 1796688000\n")
    v = registry_api(ctx_of({REPO.name: [result("registry_api", tls, stderr=err)]}), REPO)
    msg = v.message()
    assert v.status == FAIL and "has expired since 2026-11-30 03:12 UTC" in msg
    assert "how to fix it" not in msg and "More details" not in msg and "not signed by" not in msg


def test_registry_api_refused_and_unconfigured():
    down = "mode http\nurl http://s-hive3.lab:5000/v2/\ncurl 7\ncode 000\n"
    err = "curl: (7) Failed to connect to s-hive3.lab port 5000 after 0 ms: Couldn't connect to server\n"
    v = registry_api(ctx_of({REPO.name: [result("registry_api", down, stderr=err)]}), REPO)
    assert v.status == FAIL and "connection refused" in v.message() and "expected HTTP 200" in v.message()
    v = registry_api(ctx_of({REPO.name: [result("registry_api", "mode none\n")]}), REPO)
    assert v.status == UNKNOWN


def test_registry_probe_never_puts_the_password_in_output(tmp_path):
    """Run the real probe locally against a fake HOME with DXF_* and a fake curl."""
    import shutil
    import subprocess
    if not shutil.which("sh"):
        pytest.skip("no sh")
    home = tmp_path / "home"
    home.mkdir()
    secret = "S3cretPassw0rd!"
    (home / ".bashrc").write_text(f"export DXF_PASSWORD={secret}\nexport DXF_USERNAME=hive\n"
                                  f"export DXF_HOST=repo.test:5000\n")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    seen = tmp_path / "netrc-seen"
    (bin_ / "curl").write_text("#!/bin/sh\nfor a; do case $prev in --netrc-file) cat \"$a\" > "
                               f"{seen};; esac; prev=$a; done\nprintf 200\n")
    (bin_ / "curl").chmod(0o755)
    script = SECTIONS["registry_api"][1].replace("/etc/pki/ca-trust/source/anchors/cacert.pem",
                                                      str(tmp_path / "ca.pem"))
    (tmp_path / "ca.pem").write_text("x")
    env = dict(os.environ, HOME=str(home), PATH=f"{bin_}:{os.environ['PATH']}")
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    assert secret not in r.stdout + r.stderr + script
    assert "mode tls" in r.stdout and "code 200" in r.stdout
    assert seen.read_text() == f"machine repo.test login hive password {secret}\n"   # curl got it
    assert not list(Path("/tmp").glob("tmp*netrc*"))


# ---------------------------------------------------------------- hive state
def nodes_ctx(nodes_text, site=None, unreachable=None):
    return ctx_of({h.name: [result("nodes", nodes_text)] for h in HIVES}, site=site, unreachable=unreachable)


def test_hive_state_healthy_lab_passes():
    assert hive_state(nodes_ctx(lab("nodes-hive0.jsonl")), make_site()).status == OK


def test_hive_state_no_format_left_true_fails_with_hive_set():
    site = make_site(no_format=True)
    v = hive_state(nodes_ctx(lab("nodes-hive0.jsonl"), site), site)
    assert v.status == FAIL and "no_format is true in /site/.hive/persistents.yml" in v.message()
    assert "hive set no_format false" in v.message()


def test_hive_state_first_hive_down_fails_with_index_of_a_ready_hive():
    # edit: s-hive0 (first_hive) Down/Unreachable as `docker node ls` shows a dead node (7.9)
    text = lab("nodes-hive0.jsonl").replace('"ManagerStatus":"Leader","Self":true,"Status":"Ready"',
                                            '"ManagerStatus":"Unreachable","Self":false,"Status":"Down"')
    ctx = ctx_of({h.name: [result("nodes", text)] for h in HIVES[1:]},
                 unreachable={HIVES[0].name: "connect to s-hive0.lab timed out"})
    v = hive_state(ctx, make_site())
    assert v.status == FAIL
    assert "first_hive is 0 (s-hive0.lab) but its swarm node is Down" in v.message()
    assert "hive set first_hive 1" in v.message()


def two_managers_ctx(old: str, new: str):
    """s-hive0 answers the recorded `docker node ls`; s-hive2 the same with one named edit."""
    healthy = lab("nodes-hive0.jsonl")
    edited = healthy.replace(old, new)
    assert edited != healthy, f"edit {old!r} matched nothing"
    return ctx_of({HIVES[0].name: [result("nodes", healthy)], HIVES[2].name: [result("nodes", edited)]})


def test_swarm_node_managers_disagreeing_right_after_a_leader_change_says_run_again():
    # edit: s-hive2's answer taken a moment after a new Leader marked every node Unknown, as the
    # lab's node-down of the leader showed (CI run of 2026-11-29); s-hive0's answer already Ready
    ctx = two_managers_ctx('"ManagerStatus":"Reachable","Self":false,"Status":"Ready","TLSStatus":"Ready"}\n'
                           '{"Availability":"Active","EngineVersion":"26.1.5+dfsg1","Hostname":"s-hive2"',
                           '"ManagerStatus":"Reachable","Self":false,"Status":"Unknown","TLSStatus":"Ready"}\n'
                           '{"Availability":"Active","EngineVersion":"26.1.5+dfsg1","Hostname":"s-hive2"')
    v = node_state(ctx, "s-hive1")
    assert v.status == FAIL
    assert "managers disagree: s-hive2.lab sees ('Unknown', 'Active', 'Reachable')" in v.message()
    assert "after a Leader change: run again" in v.message()
    assert node_state(ctx, "s-hive2").status == OK


def test_swarm_node_managers_disagreeing_otherwise_gets_no_settling_hint():
    ctx = two_managers_ctx('"Availability":"Active","EngineVersion":"26.1.5+dfsg1","Hostname":"s-hive1"',
                           '"Availability":"Drain","EngineVersion":"26.1.5+dfsg1","Hostname":"s-hive1"')
    v = node_state(ctx, "s-hive1")
    assert v.status == FAIL and "managers disagree" in v.message() and "run again" not in v.message()


def test_no_manager_answered_gives_each_hive_its_reason():
    not_manager = "Error response from daemon: This node is not a swarm manager."
    ctx = ctx_of({HIVES[1].name: [result("nodes", "", rc=1, stderr=not_manager)], HIVES[2].name: []},
                 unreachable={HIVES[0].name: "connect to s-hive0.lab timed out"})
    nodes = no_manager_answered(ctx, "nodes", "docker node ls")
    assert nodes.startswith("no manager answered `docker node ls`: s-hive0.lab: unreachable: connect to")
    assert f"; s-hive1.lab: `" in nodes and f"node ls --format '{{{{json .}}}}'` exited 1: {not_manager}" in nodes
    assert nodes.endswith("s-hive2.lab: not gathered")
    # a manager-only question is put to one hive at a time: the others were not asked
    services = no_manager_answered(ctx, "services", "docker service ls")
    assert services.endswith("s-hive1.lab: not asked (another manager was); "
                             "s-hive2.lab: not asked (another manager was)")


def test_hive_state_local_site_skips():
    site = Site("local", [Server("here", frozenset({"local"}), "local")])
    assert hive_state(ctx_of({}, site=site), site).status == SKIP


# ---------------------------------------------------------------- spread
def spread_ctx(tasks, services=None, specs=None, nodes_inspect=None):
    res = [result("services", services or lab("services-hive0.jsonl")), result("tasks", tasks),
           result("service_specs", specs or lab("service_specs-hive0.jsonl")),
           result("nodes_inspect", nodes_inspect or lab("nodes_inspect-hive0.json")),
           result("nodes", lab("nodes-hive0.jsonl"))]
    return ctx_of({h.name: res for h in HIVES})


def three_replicas(nodes):
    base = lab("tasks-hive0.jsonl").strip()
    return "\n".join(re.sub(r'"Node":"[^"]*"', f'"Node":"{n}"', base.replace('"ldap.1"', f'"ldap.{i}"'))
                     for i, n in enumerate(nodes, 1)) + "\n"


def test_spread_single_replica_lab_passes():
    assert service_spread(spread_ctx(lab("tasks-hive0.jsonl")), "ldap").status == OK


def test_spread_all_on_one_node_fails_and_remedy_is_risky():
    services = lab("services-hive0.jsonl").replace('"Replicas":"1/1"', '"Replicas":"3/3"')
    v = service_spread(spread_ctx(three_replicas(["s-hive1"] * 3), services), "ldap")
    msg = v.message()
    assert v.status == FAIL
    assert "service ldap: all 3 running tasks (3/3 replicas) are on one node, s-hive1" in msg
    assert "3 eligible nodes" in msg and "FAQ 7.26" in msg and "docker service update --force ldap" in msg
    plan = rebalance_service.remedy.plan(None, "ldap", v)
    assert plan.tier == "risky" and "docker service update --force --quiet ldap" in plan.steps[0].command


def test_spread_spread_or_pinned_passes():
    services = lab("services-hive0.jsonl").replace('"Replicas":"1/1"', '"Replicas":"3/3"')
    assert service_spread(spread_ctx(three_replicas(["s-hive0", "s-hive1", "s-hive2"]), services), "ldap").ok
    # edit: a placement constraint only s-hive0 satisfies (its label first_hive=true)
    specs = lab("service_specs-hive0.jsonl").replace('"Placement":{}',
                                                     '"Placement":{"Constraints":["node.labels.first_hive == true"]}')
    v = service_spread(spread_ctx(three_replicas(["s-hive0"] * 3), services, specs), "ldap")
    assert v.ok and "nothing to rebalance" in v.notes[0]


# ---------------------------------------------------------------- host keys
def hk_site(tmp_path, known: str):
    cfg = tmp_path / "ssh_config"
    kh = tmp_path / "known_hosts"
    cfg.write_text("".join(f"Host {s.name}\n  HostName 10.99.213.{10 + i}\n  UserKnownHostsFile {kh}\n"
                           f"  StrictHostKeyChecking yes\n  User admin\n" for i, s in enumerate(HIVES + [REPO])))
    kh.write_text(known)
    servers = [Server(s.name, s.roles, "hive", str(cfg)) for s in HIVES + [REPO]]
    return make_site(servers=servers, context_dir=str(tmp_path)), servers


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_hostkeys_changed_key_fails_with_faq_recovery(tmp_path):
    site, servers = hk_site(tmp_path, f"10.99.213.10 {KEY}\n")
    why = ("host key of s-hive0.lab (10.99.213.10:22) does not match " + str(tmp_path / "known_hosts") +
           " (got ssh-ed25519 ab12): the server was rebuilt or the connection is intercepted; not accepted. "
           "Runbook FAQ 7.18: check the server, then remove its entry from known_hosts and run hive build-infra")
    ctx = ctx_of({}, site=site, unreachable={servers[0].name: why})
    v = host_key(ctx, servers[0])
    msg = v.message()
    assert v.status == FAIL and "host key refused, not accepted" in msg
    assert "not accepted; FAQ 7.18" in msg            # one separator, not "accepted.;"
    assert f"rm {tmp_path}/known_hosts" in msg and "hive build-infra" in msg and "FAQ 7.18" in msg


def test_hostkeys_entry_present_passes_missing_fails(tmp_path):
    site, servers = hk_site(tmp_path, f"10.99.213.10 {KEY}\n")
    ctx = ctx_of({s.name: [result("uname", s.short)] for s in servers}, site=site)
    assert host_key(ctx, servers[0]).status == OK
    v = host_key(ctx, servers[1])
    assert v.status == FAIL and "no key for 10.99.213.11 in" in v.message()


def test_hostkeys_unpinned_or_not_hive_skips(tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host s-hive0.lab\n  HostName 127.0.0.1\n  Port 2222\n  UserKnownHostsFile /dev/null\n"
                   "  StrictHostKeyChecking no\n")
    srv = Server("s-hive0.lab", frozenset({"hive"}), "hive", str(cfg))
    assert host_key(ctx_of({}, site=make_site(servers=[srv])), srv).status == SKIP
    local = Site("local", [Server("here", frozenset({"local"}), "local")])
    assert host_key(ctx_of({}, site=local), local.servers[0]).status == SKIP
