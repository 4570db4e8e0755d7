"""Waivers: loading, matching like pytest -k, expiry, malformed files (hivehealth.report.waivers)."""
from datetime import date

import pytest

from hivehealth.report.waivers import Waiver, WaiverError, find, keywords_of_nodeid, load, parse

TODAY = date(2026, 11, 29)
UNITS1 = "checks/test_units.py::test_units[s-hive1.lab]"
UNITS0 = "checks/test_units.py::test_units[s-hive0.lab]"
DRBD = "checks/test_drbd.py::test_drbd[ldap_data]"
DRBD2 = "checks/test_drbd.py::test_drbd[ldap_data2]"
SVC = "checks/test_services.py::test_service[ldap]"

GOOD = """\
waivers:
  - check: test_units and s-hive1.lab
    justification: kdump.service fails on this VM type (vendor ticket 4711)
    expires: 2026-12-31
  - check: test_drbd[ldap_data]
    justification: resync after disk replacement
    expires: "2026-11-28"
    owner: ops
  - check: test_disk
    host: s-hive2
    justification: log partition is small by design
    expires: 2027-01-31
"""


def write(tmp_path, text, name="waivers.yml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_load_good_file(tmp_path):
    ws = load(write(tmp_path, GOOD))
    assert [w.check for w in ws] == ["test_units and s-hive1.lab", "test_drbd[ldap_data]", "test_disk"]
    assert ws[0].expires == date(2026, 12, 31) and ws[1].expires == date(2026, 11, 28)
    assert ws[2].host == "s-hive2" and ws[1].owner == "ops"
    assert [w.line for w in ws] == [2, 5, 9] and [w.index for w in ws] == [0, 1, 2]
    assert ws[0].as_report() == {"reason": "kdump.service fails on this VM type (vendor ticket 4711)",
                                 "expires": "2026-12-31", "check": "test_units and s-hive1.lab"}


def test_match_is_like_pytest_k():
    w = parse(GOOD)[0]
    assert w.matches(UNITS1, set(), None, TODAY)
    assert not w.matches(UNITS0, set(), None, TODAY)
    assert not w.matches(DRBD, set(), None, TODAY)
    # case-insensitive substring, like KeywordMatcher
    w2 = Waiver(check="UNITS", justification="j", expires=date(2027, 1, 1))
    assert w2.matches(UNITS0, set(), None, TODAY) and not w2.matches(DRBD, set(), None, TODAY)
    # not / or / parentheses
    w3 = Waiver(check="test_units and not (s-hive0 or s-hive2)", justification="j", expires=date(2027, 1, 1))
    assert w3.matches(UNITS1, set(), None, TODAY) and not w3.matches(UNITS0, set(), None, TODAY)


def test_bracketed_check_selects_exactly_one_object():
    w = Waiver(check="test_drbd[ldap_data]", justification="j", expires=date(2027, 1, 1))
    assert w.matches(DRBD, set(), None, TODAY)
    assert not w.matches(DRBD2, set(), None, TODAY)


def test_keywords_from_the_item_count():
    w = Waiver(check="drbd and slow", justification="j", expires=date(2027, 1, 1))
    assert not w.matches(DRBD, set(), None, TODAY)
    assert w.matches(DRBD, {"slow", "test_drbd[ldap_data]"}, None, TODAY)  # e.g. a marker


def test_host_filter_full_and_short_names():
    w = parse(GOOD)[2]   # test_disk, host s-hive2
    assert w.matches("checks/test_disk.py::test_disk[s-hive2.lab]", set(), None, TODAY)  # from node id
    assert w.matches("checks/test_disk.py::test_disk[s-hive2.lab]", set(), "s-hive2.lab", TODAY)
    assert not w.matches("checks/test_disk.py::test_disk[s-hive1.lab]", set(), "s-hive1.lab", TODAY)
    assert not w.matches("checks/test_disk.py::test_disk[s-hive20.lab]", set(), None, TODAY)
    full = Waiver(check="test_swarm_node", host="s-hive1.lab", justification="j", expires=date(2027, 1, 1))
    assert full.matches("checks/test_swarm.py::test_swarm_node[s-hive1]", set(), None, TODAY)
    assert not full.matches("checks/test_swarm.py::test_swarm_node[s-hive1]", set(), "s-hive1.pdns.x", TODAY)
    # a cluster object without a host does not match a host-bound waiver
    assert not full.matches(DRBD, set(), None, TODAY)


def test_expiry_is_inclusive_and_expired_waivers_are_reported():
    ws = parse(GOOD)
    drbd = ws[1]                                   # expires 2026-11-28
    assert not drbd.expired(date(2026, 11, 28))
    assert drbd.expired(TODAY)
    assert drbd.matches(DRBD, set(), None, date(2026, 11, 28))
    assert not drbd.matches(DRBD, set(), None, TODAY)
    active, expired = find(ws, DRBD, set(), None, TODAY)
    assert active is None and expired == [drbd]
    active, expired = find(ws, UNITS1, set(), None, TODAY)
    assert active is ws[0] and expired == []
    active, expired = find(ws, SVC, set(), None, TODAY)
    assert active is None and expired == []


def test_find_returns_active_and_expired_together():
    ws = parse("""\
waivers:
  - {check: test_service, justification: old, expires: 2025-01-01}
  - {check: "test_service[ldap]", justification: new, expires: 2027-01-01}
""")
    active, expired = find(ws, SVC, set(), None, TODAY)
    assert active.justification == "new" and [w.justification for w in expired] == ["old"]


def test_empty_files_mean_no_waivers(tmp_path):
    assert load(write(tmp_path, "")) == []
    assert load(write(tmp_path, "waivers:\n")) == []
    assert load(write(tmp_path, "waivers: []\n")) == []


@pytest.mark.parametrize("text,problem,index,line", [
    ("waivers:\n  - check: test_units\n    expires: 2026-12-31\n",
     "missing justification", 0, 2),
    ("waivers:\n  - check: test_units\n    justification: '  '\n    expires: 2026-12-31\n",
     "missing justification", 0, 2),
    ("waivers:\n  - check: a\n    justification: j\n    expires: 2026-12-31\n"
     "  - check: test_units\n    justification: j\n",
     "missing expires", 1, 5),
    ("waivers:\n  - justification: j\n    expires: 2026-12-31\n", "missing check", 0, 2),
    ("waivers:\n  - check: t\n    justification: j\n    expires: 2026-13-01\n",
     "not a valid date", 0, 2),
    ("waivers:\n  - check: t\n    justification: j\n    expires: 31/12/2026\n",
     "not a date like 2026-12-31", 0, 2),
    ("waivers:\n  - check: t\n    justification: j\n    expires: soon\n",
     "not a date like 2026-12-31", 0, 2),
    ("waivers:\n  - check: t\n    justification: j\n    expires: 2026-12-31\n    reason: x\n",
     "unknown key(s) reason", 0, 2),
    ("waivers:\n  - check: test_units and\n    justification: j\n    expires: 2026-12-31\n",
     "not a valid -k expression", 0, 2),
    ("waivers:\n  - check: t\n    justification: 42\n    expires: 2026-12-31\n",
     "justification must be text", 0, 2),
    ("waivers:\n  - just a string\n", "an entry must be a mapping", 0, 2),
    ("waivers:\n  check: t\n", "`waivers:` must be a list", None, None),
    ("- check: t\n", "must be a mapping with a `waivers:` list", None, None),
    ("waiver:\n  - check: t\n", "unknown top-level key(s) waiver", None, None),
])
def test_malformed_files_name_file_entry_and_problem(tmp_path, text, problem, index, line):
    p = write(tmp_path, text)
    with pytest.raises(WaiverError) as e:
        load(p)
    msg = str(e.value)
    assert str(p) in msg and problem in msg
    assert e.value.index == index and e.value.line == line
    if index is not None:
        assert f"waiver #{index + 1}" in msg and f"line {line}" in msg


def test_yaml_syntax_error_has_a_line(tmp_path):
    p = write(tmp_path, "waivers:\n  - check: t\n    justification: [oops\n    expires: 2026-12-31\n")
    with pytest.raises(WaiverError) as e:
        load(p)
    assert "YAML syntax error" in str(e.value) and e.value.line is not None
    assert f"{p}, line {e.value.line}" in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(WaiverError, match="no such file"):
        load(tmp_path / "nope.yml")


def test_keywords_of_nodeid():
    assert keywords_of_nodeid(UNITS1) == {"checks", "test_units.py", "test_units[s-hive1.lab]"}
