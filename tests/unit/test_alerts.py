"""Zabbix alert text -> the checks it concerns (hivehealth.judge.alerts)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hivehealth.judge import alerts
from hivehealth.judge.alerts import UncoveredAlert, UnknownAlert, match

REPO = Path(__file__).resolve().parents[2]

CASES = [
    # (text, trigger, areas, object, keyword, hive)
    ("Problem: DRBD resource ldap_data status is not UpToDate/Diskless client",
     "Z1", ["drbd"], "ldap_data", "test_drbd[ldap_data]", None),
    ("DRBD resource ldap_data status is not UpToDate/Diskless client",
     "Z1", ["drbd"], "ldap_data", "test_drbd[ldap_data]", None),
    ("Problem: DRBD resource pdnsdb_data status is not UpToDate/Diskless client (pdns)",
     "Z1", ["drbd"], "pdnsdb_data", "test_drbd[pdnsdb_data]", "pdns"),
    ("Problem: /: Disk space is low (used > 80%)",
     "disk", ["disk", "registry"], "/", "test_disk or test_registry", None),
    ("/var/lib/docker: Disk space is low (used > 80%)",
     "disk", ["disk", "registry"], "/var/lib/docker", "test_disk or test_registry", None),
    ("/boot: Disk space is critically low (used > 90%)",
     "disk", ["disk", "registry"], "/boot", "test_disk or test_registry", None),
    ("Problem: At least one of the services is in a failed state",
     "Z3", ["units"], None, "test_units", None),
    ("Service ldap: Replica count mismatch (lab)",
     "Z13", ["services"], "ldap", "test_service[ldap]", "lab"),
    ("Problem: Service ldap: Replica count mismatch",
     "Z13", ["services"], "ldap", "test_service[ldap]", None),
    ("Service ldap replicas running percetage less than 100 (lab)",
     "Z7", ["services"], "ldap", "test_service[ldap]", "lab"),
    ("Service ldap replicas running percentage less than 100 (lab)",
     "Z7", ["services"], "ldap", "test_service[ldap]", "lab"),
    ("Service ldap restarted (lab)",
     "Z8", ["services"], "ldap", "test_service[ldap]", "lab"),
    ("Problem: Service powerdns restarted",
     "Z8", ["services"], "powerdns", "test_service[powerdns]", None),
    ("Exceed 90% Docker volume ldap_data in ldap usage (lab)",
     "Z10", ["volumes"], "ldap_data", "test_volume[ldap_data]", "lab"),
    ("Problem: Exceed 90% Docker volume ボリューム名 in サービス名 usage",
     "Z10", ["volumes"], "ボリューム名", "test_volume[ボリューム名]", None),
    ("  Problem:   Service ldap:  Replica count mismatch (lab)\n",
     "Z13", ["services"], "ldap", "test_service[ldap]", "lab"),
    ("Problem: Detect SELinux alert", "Z2", ["selinux"], None, "test_selinux", None),
    ("docker.service service has restarted", "Z4", ["unit_restarts"], "docker.service",
     "test_unit_restarts", None),
    # the mail as zabbix sends it: the unit from list-unit-files column 1, with its suffix
    ("Problem: follow-swarm-service.service service has restarted", "Z4", ["unit_restarts"],
     "follow-swarm-service.service", "test_unit_restarts", None),
    ("Error Log Detected for Services", "Z5", ["service_error_log"], None,
     "test_service_error_log", None),
    ("Service slapd in container ldap restarted (lab)", "Z6", ["inner_services"], "ldap",
     "test_inner_services", "lab"),
    ("At least one of the services in standalone type container ldap is in a failed state (lab)",
     "Z9", ["inner_services"], "ldap", "test_inner_services", "lab"),
    ("Service ldap: High CPU usage (over 80% for 5m) (lab)", "Z11", ["service_usage"], "ldap",
     "test_service_usage[ldap]", "lab"),
    ("Service サービス名: High memory usage (over 90% for 5m)", "Z12", ["service_usage"], "サービス名",
     "test_service_usage[サービス名]", None),
    ("Problem: /var/lib/docker: Running out of free inodes (free < 20%)", "inodes", ["inodes"],
     "/var/lib/docker", "test_inodes", None),
    ("System time is out of sync (diff with Zabbix server > 60s)", "time", ["time"], None,
     "test_time", None),
    ("Zabbix agent is not available (for 3m)", "agent", ["unreachable"], None,
     "test_unreachable", None),
]


@pytest.mark.parametrize("text,trigger,areas,obj,keyword,hive", CASES)
def test_every_covered_trigger_text(text, trigger, areas, obj, keyword, hive):
    m = match(text)
    assert (m.trigger, m.areas, m.object, m.keyword, m.hive) == (trigger, areas, obj, keyword, hive)


def test_every_known_template_is_tested():
    tested = {match(c[0]).trigger for c in CASES}
    assert {t for t, _, _ in alerts.KNOWN} <= tested


def test_volume_alert_keeps_the_service():
    assert match("Exceed 90% Docker volume ldap_data in ldap usage (lab)").details == {"service": "ldap"}


def test_host_narrows_per_server_alerts():
    assert match("/: Disk space is low (used > 80%)", host="s-hive0.lab").keyword == \
        "test_disk[s-hive0.lab] or test_registry[s-hive0.lab]"
    assert match("At least one of the services is in a failed state",
                 host="s-hive1.lab").keyword == "test_units[s-hive1.lab]"
    # cluster objects do not depend on the host the alert came from
    assert match("Service ldap restarted (lab)", host="s-hive2.lab").keyword == "test_service[ldap]"


@pytest.mark.parametrize("text", [
    "DRBD resource ldap_data status is not UpToDate",        # truncated
    "Problem: DRDB resource ldap_data status is not UpToDate/Diskless client",  # typo
    "Disk space is low",
    "Service ldap: Replica count mismatched (lab)",
    "something completely different",
    "",
])
def test_unknown_alert_lists_the_known_ones(text):
    with pytest.raises(UnknownAlert) as e:
        match(text)
    msg = str(e.value)
    assert repr(text) in msg
    for _, template, _ in alerts.KNOWN:
        assert template in msg
    assert "DRBD resource <vol> status is not UpToDate/Diskless client" in msg.splitlines()[1]
    assert not isinstance(e.value, UncoveredAlert)


def test_no_trigger_of_the_templates_is_left_uncovered():
    assert alerts.UNCOVERED == []


@pytest.mark.parametrize("text,host,trigger,obj", [
    ("Linux: System time is out of sync (diff with Zabbix server > 60s)", "Linux", "time", None),
    ("Problem: s-hive0.pdns: Zabbix agent is not available (for 3m)", "s-hive0.pdns", "agent", None),
    ("s-hive0.pdns: Linux: FS [/var/lib/docker]: Running out of free inodes (free < 20%)",
     "s-hive0.pdns: Linux", "inodes", "/var/lib/docker"),
    ("Zabbix agent is not available (or nodata for 30m)", None, "agent", None),
])
def test_host_and_template_prefixes_are_accepted(text, host, trigger, obj):
    m = match(text)
    assert (m.trigger, m.object, m.details.get("prefix")) == (trigger, obj, host)


def test_a_prefix_is_never_cut_from_a_text_that_matches_as_given():
    assert match("Service ldap: Replica count mismatch").object == "ldap"
    assert match("/: Disk space is low (used > 80%)").object == "/"


def test_keywords_select_exactly_one_object_in_real_pytest(tmp_path):
    """pytest -k substring semantics: the bracketed keyword selects only the named object."""
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "test_drbd.py").write_text(textwrap.dedent("""
        import pytest
        @pytest.mark.parametrize("r", ["ldap_data", "ldap_data2", "pdnsdb_data"])
        def test_drbd(r): pass
    """))
    (tmp_path / "checks" / "test_services.py").write_text(textwrap.dedent("""
        import pytest
        @pytest.mark.parametrize("s", ["ldap", "ldap_admin", "pdns"])
        def test_service(s): pass
    """))
    (tmp_path / "checks" / "test_volumes.py").write_text(textwrap.dedent("""
        import pytest
        @pytest.mark.parametrize("v", ["ldap_data", "ldap_data_old"])
        def test_volume(v): pass
    """))
    (tmp_path / "checks" / "test_disk.py").write_text(textwrap.dedent("""
        import pytest
        @pytest.mark.parametrize("server", ["s-hive0.lab", "s-hive1.lab", "s-hive10.lab"])
        def test_disk(server): pass
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")

    def selected(keyword):
        r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-k", keyword],
                           cwd=tmp_path, capture_output=True, text=True,
                           env=dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"))
        return sorted(l.split("::")[1] for l in r.stdout.splitlines() if "::" in l)

    assert selected(match("DRBD resource ldap_data status is not UpToDate/Diskless client").keyword) \
        == ["test_drbd[ldap_data]"]
    assert selected(match("Service ldap: Replica count mismatch (lab)").keyword) == ["test_service[ldap]"]
    assert selected(match("Exceed 90% Docker volume ldap_data in ldap usage (lab)").keyword) \
        == ["test_volume[ldap_data]"]
    assert selected(match("/: Disk space is low (used > 80%)", host="s-hive1.lab").keyword) \
        == ["test_disk[s-hive1.lab]"]
    assert len(selected(match("/: Disk space is low (used > 80%)").keyword)) == 3
    # the naive keyword would not have been exact
    assert selected("test_service and ldap") == ["test_service[ldap]", "test_service[ldap_admin]"]


def test_cli():
    r = subprocess.run([sys.executable, "-m", "hivehealth.judge.alerts", "Problem: Service ldap restarted (lab)"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == "test_service[ldap]"
    r = subprocess.run([sys.executable, "-m", "hivehealth.judge.alerts", "nope"], capture_output=True, text=True,
                       cwd=REPO)
    assert r.returncode == 2 and "Alerts it knows" in r.stderr
