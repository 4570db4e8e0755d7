"""The LVM thin pool under the DRBD volumes: drbdvg/drbdpool (hive's zabbix does not watch it).

build-volumes carves every DRBD volume as a thin LV of `drbd.size` from the pool `drbdpool` in
VG `drbdvg`, so the volumes can together promise more than the pool holds. A full pool
(data or metadata) stops every DRBD volume on the hive, and zabbix never looks at it: its
filesystem template sees only mounted filesystems, and skips /var/lib/docker anyway.
Limits: `thinpool_data_max` and `thinpool_metadata_max` (80 %); the pool: `thinpool`.

Every other thin pool `lvs` lists (the OS's root pool of an installer's thin layout, a pool of
another VG) is judged too: a full thin pool breaks every LV on it, the root filesystem included.
The same limits make it a warning (it does not hold DRBD volumes), a failed or out-of-space pool
a failure.

Not applicable (skip): a hive without LVM (`lvs` not installed) or without the VG (the hive lab,
or a hive with `hive_no_mirrored_device` that only holds diskless clients). A VG without the
pool, or a pool whose use cannot be read (not active), is a fault.
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers.lvm import HEALTH, STATE, parse_lvs_json
from hivehealth.parsers.sizes import human_kib
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command


_LVS = ("command -v lvs >/dev/null 2>&1 || { echo 'lvs: command not found' >&2; exit 127; }; "
        "$SUDO lvs --reportformat json --units b --nosuffix "
        "-o vg_name,lv_name,lv_attr,lv_size,pool_lv,data_percent,metadata_percent")

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    lvs=("hive", _LVS),
)

ALERT = "(none: hive's zabbix does not watch the LVM thin pool)"
NOT_INSTALLED = 127


@pytest.mark.roles("hive")
def test_thinpool(server, verify):
    verify(thinpool_usage, server)


def thinpool_usage(ctx, server) -> Verdict:
    pool_name = str(ctx.ini("thinpool")).strip() or "drbdvg/drbdpool"
    vg, _, lv = pool_name.partition("/")
    data_max = ctx.number("thinpool_data_max")
    meta_max = ctx.number("thinpool_metadata_max")
    v = Verdict(f"{server.name} thin pool {pool_name}", alert=ALERT)
    raw = ctx.host(server).get("lvs")
    if raw is not None and not ctx.host(server).unreachable and raw.rc == NOT_INSTALLED:
        v.cite(server.name, raw)
        v.skip(f"{server.name}: lvs is not installed: this hive has no LVM, so no thin pool "
               f"{pool_name} to check")
        return v
    # lvs exits 5 when one VG cannot be read and still reports the others: what it does report
    # is judged, but a VG or pool it left out is not known to be absent
    lvs = ctx.parsed(v, server, "lvs", parse_lvs_json, "lvs", partial=True)
    if lvs is None:
        return v
    complete = raw.ok
    other_pools(v, server, [x for x in lvs if x.is_thin_pool and (x.vg, x.name) != (vg, lv)],
                data_max, meta_max)
    in_vg = [x for x in lvs if x.vg == vg]
    if not in_vg and not complete:
        v.unknown(f"lvs exited {raw.rc} without reporting VG {vg}: cannot tell whether it exists")
        return v
    if not in_vg:
        vgs = sorted({x.vg for x in lvs})
        why = (f"no VG {vg} here (lvs shows {', '.join(vgs) or 'no LV at all'}): this hive holds "
               f"no DRBD thin volumes")
        if v.problems:
            v.notes.append(why)
        else:
            v.skip(f"{server.name}: {why}")
        return v
    pool = next((x for x in in_vg if x.name == lv), None)
    if pool is None and not complete:
        v.unknown(f"lvs exited {raw.rc} without reporting {pool_name}: cannot tell whether it exists")
        return v
    if pool is None:
        v.fail(f"VG {vg} has no LV {lv}: the thin pool build-volumes carves DRBD volumes from "
               f"is missing (LVs in {vg}: {', '.join(x.name for x in in_vg)})")
        return v
    if not pool.is_thin_pool:
        v.fail(f"{pool_name} is not a thin pool (lv_attr {pool.attr})")
        return v
    thin = [x for x in in_vg if x.pool == lv]
    promised = sum(x.size or 0 for x in thin)
    v.data.update(data_percent=pool.data_percent, metadata_percent=pool.metadata_percent,
                  size=pool.size, promised=promised, volumes=[x.name for x in thin])
    if pool.health in HEALTH:
        v.fail(f"{pool_name} is {HEALTH[pool.health]} (lv_attr {pool.attr}): every DRBD volume on "
               f"{server.short} depends on it; see lvmthin(7) and the kernel log (journalctl -k)")
    if pool.state in STATE:
        v.fail(f"{pool_name} is {STATE[pool.state]} (lv_attr {pool.attr}): the DRBD volumes carved "
               f"from it cannot be relied on"
               + ("; sudo lvchange -ay " + pool_name if pool.state == "-" else "; see lvmthin(7)"))
        if pool.state == "-":
            return v
    over = ""
    if pool.size and promised > pool.size:
        over = (f"; its {len(thin)} thin volumes promise {human_kib(promised / 1024)} of "
                f"{human_kib(pool.size / 1024)} ({promised / pool.size:.0%}, overcommitted)")
    if pool.data_percent is not None and pool.data_percent >= data_max:
        v.fail(f"{pool_name} data is {pool.data_percent:g} % used (limit thinpool_data_max "
               f"{data_max:g} %){over}: when it fills, every DRBD volume on {server.short} stops "
               f"taking writes; extend the pool (lvextend) or move volumes (runbook 7.4 needs free pool space)")
    if pool.metadata_percent is not None and pool.metadata_percent >= meta_max:
        v.fail(f"{pool_name} metadata is {pool.metadata_percent:g} % used (limit "
               f"thinpool_metadata_max {meta_max:g} %): extend it with "
               f"lvextend --poolmetadatasize +<size> {pool_name}")
    # each figure is judged on its own: lvm2 prints either blank when its status is invalid
    unread = [k for k, pct in (("data", pool.data_percent), ("metadata", pool.metadata_percent))
              if pct is None]
    if unread:
        v.unknown(f"{pool_name} reports no {' or '.join(unread)} use (lv_attr {pool.attr})")
    if "X" in (pool.state, pool.health):
        v.unknown(f"lvm could not read the state of {pool_name} (lv_attr {pool.attr}: X = unknown)")
    if v.ok and over:
        v.notes.append(over.lstrip("; "))
    return v


def other_pools(v: Verdict, server, pools, data_max: float, meta_max: float) -> None:
    """Thin pools that hold no DRBD volume: a failed or full one breaks the LVs on it (the root
    filesystem of a thin-provisioned install), so their figures are judged by the same limits."""
    for pool in pools:
        name = f"{pool.vg}/{pool.name}"
        if pool.health in HEALTH:
            v.fail(f"thin pool {name} (not the DRBD pool) is {HEALTH[pool.health]} (lv_attr "
                   f"{pool.attr}): every LV on it is affected; see lvmthin(7) and journalctl -k")
            continue
        if pool.state == "-":
            v.notes.append(f"thin pool {name} is not active (lv_attr {pool.attr}): its use is not shown")
            continue
        for what, pct, limit, option, fix in (
                ("data", pool.data_percent, data_max, "thinpool_data_max",
                 f"extend it ({command('lvextend', '-L', '+SIZE', name, sudo=True)}) or free space "
                 f"in its LVs (fstrim)"),
                ("metadata", pool.metadata_percent, meta_max, "thinpool_metadata_max",
                 f"extend it: {command('lvextend', '--poolmetadatasize', '+SIZE', name, sudo=True)}")):
            if pct is not None and pct >= limit:
                v.warn(f"thin pool {name} (not the DRBD pool) {what} is {pct:g} % used (limit "
                       f"{option} {limit:g} %): when it fills, every LV on it stops taking writes "
                       f"({server.short}'s root filesystem too, if it is there); {fix}")
