"""Runbook 7.7: DRBD resources, one item per resource across every hive that holds it.

Zabbix: "DRBD resource <vol> status is not UpToDate/Diskless client". Zabbix reads only the
local disk state; this check also reads every connection and peer disk, so the shapes the
runbook tells apart (all Outdated, one-sided connection, StandAlone, Connecting, Diskless
without client, quorum lost, resync) are named in the failure.
"""
from hivehealth.gather.sections import declare
from hivehealth.judge import drbd
from hivehealth.judge.cluster import drbd_views
from hivehealth.judge.verdict import Verdict
from hivehealth.parsers import ParseError
from hivehealth.parsers.drbd import KernelLog, parse_kernel_log


# what this area reads from each server (the probe gathers it once per run)
# The kernel log tells a split brain from a manual disconnect (both leave a StandAlone link):
# DRBD's handshake logs "Split-Brain detected but unresolved" and the bitmap counts it compared.
# Only the lines that matter, of this boot, the last 400 of them; the last line says whether
# journalctl (or, without it, dmesg) could be read at all: an empty log read is no split brain,
# a log not read is no evidence.
KERNEL_LOG = ("{ $SUDO journalctl -k -b --no-pager -q 2>/dev/null || $SUDO dmesg 2>/dev/null; "
              "echo \"# exit $?\"; } | grep -E '^# exit |drbd .*(Split-Brain|conn\\( |"
              "drbd_sync_handshake|: (self|peer) [0-9A-F]{16}:)' | tail -n 400")

declare(
    __name__,
    drbd_json=("hive", "$SUDO drbdsetup status --json"),
    drbd_text=("hive", "$SUDO drbdadm status"),
    drbd_kernel_log=("hive", KERNEL_LOG),
)


def test_drbd(drbd_resource, verify):
    verify(drbd_state, drbd_resource)


def drbd_state(ctx, name) -> Verdict:
    v = Verdict(f"DRBD resource {name}",
                alert=f"DRBD resource {name} status is not UpToDate/Diskless client")
    views, logs = {}, {}
    for hive in ctx.site.hives:
        got = drbd_views(ctx, hive)
        views[hive.name] = got if isinstance(got, str) else next((r for r in got if r.name == name), None)
        logs[hive.name] = drbd_kernel_log(ctx, hive)
        facts = ctx.host(hive)
        if not facts.unreachable:
            v.cite(hive.name, facts.get("drbd_text") or facts.get("drbd_json"))
    report = drbd.analyze(name, views, expected=[h.name for h in ctx.site.hives], kernel_logs=logs)
    if any(f[0] in (drbd.SPLIT_BRAIN, drbd.STANDALONE, drbd.DISCONNECTED) for f in report.findings):
        for hive in ctx.site.hives:     # what told the StandAlone links apart
            if not ctx.host(hive).unreachable:
                v.cite(hive.name, ctx.host(hive).get("drbd_kernel_log"))
    # suspended / io_failing: hosts where I/O is frozen or forced to fail; a remedy that
    # changes roles or reconnects must refuse while they are non-empty
    v.data.update(shape=report.shape, primaries=report.primaries, resync=report.resync,
                  clean_side=report.clean_side, views=views, status=report.status,
                  suspended=report.suspended, io_failing=report.io_failing,
                  reconnect=report.reconnect, split_brains=report.split_brains)
    if report.healthy:
        return v
    # each finding keeps its own weight: a resync or a congested link heals itself (warn: the
    # nightly run notes it, the maintenance gate waits for it), a view that cannot be read is
    # unknown, everything else fails; the verdict is the worst of them
    mark = {drbd.FAIL: v.fail, drbd.UNKNOWN: v.unknown, drbd.WARN: v.warn}
    mark[report.status](report.state())      # the subject names the resource
    for _, status, text in report.findings:
        mark[status](text)
    return v


def drbd_kernel_log(ctx, hive) -> KernelLog | str:
    """A hive's DRBD kernel log lines, or why they cannot be read."""
    facts = ctx.host(hive)
    if facts.unreachable:
        return f"unreachable: {facts.unreachable}"
    r = facts.get("drbd_kernel_log")
    if r is None:
        return "not gathered"
    if not r.ok:
        return r.failure()
    try:
        return parse_kernel_log(r.stdout)
    except ParseError as e:
        return str(e)
