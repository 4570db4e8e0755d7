"""Runbook 7.1 / 7.5: a server's disk fills up.

Zabbix: "/: Disk space is low (used > 80%)". Every real filesystem counts, /var/lib/docker
included (zabbix skips it, yet that is where 7.5's writable layers fill the disk). DRBD volumes
are not the server's disk: test_volumes checks them against their own limit.
"""
import pytest

from hivehealth.parsers import ParseError, fs
from hivehealth.sizes import human_kib
from hivehealth.verdict import Verdict


@pytest.mark.roles("all")
def test_disk(server, verify):
    verify(disk_usage, server)


def _mounts(ctx, server) -> list[dict] | None:
    """findmnt's mount table, which only refines df's list (fstype, bind mounts): without it the
    check still runs on df alone."""
    mnt = ctx.host(server).get("findmnt")
    try:
        return fs.parse_findmnt_json(mnt.stdout) if mnt and mnt.ok else None
    except ParseError:
        return None


def disk_usage(ctx, server) -> Verdict:
    limit = ctx.number("disk_usage_max")
    v = Verdict(server.name, alert=f"<mount>: Disk space is low (used > {limit:g}%)")
    # df exits 1 when one mount cannot be read (a stale NFS handle) and still lists the others
    df = ctx.parsed(v, server, "df", fs.parse_df_posix, "df", partial=True)
    if df is None:
        return v
    filesystems = fs.real_filesystems(df, _mounts(ctx, server))
    filesystems = [f for f in filesystems if not f.source.startswith("/dev/drbd")]
    if not filesystems:
        v.unknown("df listed no real filesystem")
        return v
    # zabbix's trigger is "used > limit"; df rounds Capacity up, so at "80%" zabbix's exact figure
    # is at most 80 and it does not fire: neither does this check
    full = [f for f in filesystems if f.use_pct > limit]
    for f in full:
        v.fail(f"{f.target} is {f.use_pct} % full (limit {limit:g} %; {human_kib(f.used_kib)} of "
               f"{human_kib(f.size_kib)} used on {f.source} {f.fstype or ''})".replace(" )", ")"))
    if full:
        v.alert = f"{full[0].target}: Disk space is low (used > {limit:g}%)"
        v.data["mounts"] = [f.target for f in full]
    v.data["usage"] = {f.target: f.use_pct for f in filesystems}
    return v
