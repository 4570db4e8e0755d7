"""Output no parser can read is an unknown naming the server and the command, never a traceback
and never a pass; output that only refines a check (findmnt for df) may be missing."""
from pathlib import Path

from checks.test_disk import disk_usage
from checks.test_drbd_units import drbd_units_active
from checks.test_registry import registry_size
from hivehealth.verdict import FAIL, OK, UNKNOWN
from test_more_checks import HIVES, REPO, ctx_of, result

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
# a real df -TPk: overlay root 8 % used, /etc/hosts bind-mounted from xfs (samples/SOURCES.md)
DF = (SAMPLES / "df" / "df-TPk-inside-container-overlay-root.txt").read_text()
HIVE = HIVES[1]


def disk(results, limit="80"):
    ctx = ctx_of({HIVE.name: results}, ini={"disk_usage_max": limit})
    return ctx.judge(disk_usage, HIVE)


def test_unreadable_df_is_unknown_naming_the_command():
    v = disk([result("df", "Filesystem Size Used\ngarbage\n")])
    assert v.status == UNKNOWN
    assert "cannot read df" in v.message()
    assert any(e.command.startswith("$SUDO df") for e in v.evidence)


def test_unreadable_findmnt_leaves_the_disk_judged_on_df_alone():
    healthy = disk([result("df", DF), result("findmnt", "{not json")], limit="80")
    assert healthy.status == OK, healthy.message()
    full = disk([result("df", DF), result("findmnt", "{not json")], limit="5")
    assert full.status == FAIL and "is 8 % full (limit 5 %; 6.2 GiB of 79.2 GiB used on /dev/vda4 xfs)" in full.message()


def test_a_parse_error_escaping_a_check_becomes_unknown():
    def careless(ctx, server):          # a check that parses without ctx.parsed
        from hivehealth.parsers import systemd
        systemd.parse_show("no key-value lines at all")
    ctx = ctx_of({HIVE.name: []})
    v = ctx.judge(careless, HIVE)
    assert v.status == UNKNOWN and v.subject == HIVE.name
    assert "cannot read the gathered output" in v.message()
    assert ctx.judge(careless, None).subject == "careless"      # a site-wide check


def test_unreadable_units_are_unknown_not_ok():
    ctx = ctx_of({HIVE.name: [result("drbd_units", "\x00\x01 binary noise")]})
    v = drbd_units_active(ctx, HIVE)
    assert v.status == UNKNOWN and "cannot read the drbd-resource@ units" in v.message()


def registry(results, max_size=""):
    ctx = ctx_of({REPO.name: results}, ini={"registry_max_size": max_size})
    return ctx.judge(registry_size, REPO)


def test_registry_with_no_size_from_du_is_unknown():
    v = registry([result("registry_du", "")], max_size="20G")
    assert v.status == UNKNOWN and "du printed no size for registry_regdata" in v.message()


def test_registry_with_unreadable_df_is_unknown_naming_it():
    du = "1048576\t/var/lib/docker/volumes/registry_regdata\n"
    v = registry([result("registry_du", du), result("registry_df", "no df here\n")])
    assert v.status == UNKNOWN and "cannot read df" in v.message()
    assert registry([result("registry_du", du)], max_size="20G").status == OK
    assert registry([result("registry_du", du)], max_size="512M").status == FAIL


def test_cut_short_is_a_last_line_without_its_newline_unless_json_parses_whole():
    from hivehealth.context import complete_lines, cut_short, gave_no_answer
    from hivehealth.gather import CommandResult
    assert cut_short("") is None and cut_short("a b\nc d\n") is None
    assert "cut short" in cut_short("a b\n/var/li") and "'/var/li'" in cut_short("a b\n/var/li")
    assert cut_short('{"a": [1, 2]}') is None and cut_short('{"a": 1}\n{"b": 2}') is None   # JSON, NDJSON
    assert cut_short('{"a": [1, 2') and cut_short("12582912\t/x\n1258")                    # not whole
    assert cut_short("1258") is not None            # a bare number parses as JSON, yet is cut
    assert complete_lines("a\nb\nc") == "a\nb\n" and complete_lines("abc") == ""
    answer = lambda rc, out: gave_no_answer(CommandResult("df", "df", rc, out, ""))
    assert not answer(1, "Filesystem ...\n") and answer(124, "Filesystem ...\n") and answer(1, "")
    assert answer(137, "x\n") and answer(127, "x\n")


def test_a_cut_short_answer_can_fail_but_never_pass():
    rows = DF.splitlines(keepends=True)
    cut = "".join(rows[:-1]) + rows[-1][:len(rows[-1]) // 2]
    assert disk([result("df", DF)]).status == OK
    v = disk([result("df", cut)])
    assert v.status == UNKNOWN and "cut short" in v.message()
    v = disk([result("df", cut)], limit="5")
    assert v.status == FAIL and any("cut short" in n for n in v.notes)


def test_non_zero_exit_is_judged_only_where_the_check_reads_partial_answers():
    v = disk([result("df", DF, rc=1, stderr="df: /mnt/share: Stale file handle\n")])
    assert v.status == OK and any("Stale file handle" in n for n in v.notes)
    ctx = ctx_of({HIVE.name: [result("drbd_units", "Id=drbd-resource@ldap_data.service\n", rc=1)]})
    assert ctx.judge(drbd_units_active, HIVE).status == UNKNOWN
