"""Runbook 7.3: the private registry's volume grows until the repository server's disk fills.

Measured as the runbook does (`sudo du -s -B G /var/lib/docker/volumes/registry_regdata`):
sizes are shown in whole GiB rounded up, compared in KiB.
"""
import pytest

from hivehealth.parsers import fs
from hivehealth.sizes import gib_ceil, human_kib, parse_size_kib
from hivehealth.verdict import Verdict

VOLUME = "registry_regdata"


@pytest.mark.roles("repository")
def test_registry(server, verify):
    verify(registry_size, server)


def registry_size(ctx, server) -> Verdict:
    v = Verdict(f"{server.name} {VOLUME}", alert="/: Disk space is low (used > 80%)")
    # du exits 1 when it cannot read part of the tree and still prints the size of the rest;
    # a recording of the runbook's `du -s -B G` (or -h) carries a unit suffix
    sizes = ctx.parsed(v, server, "registry_du", fs.parse_du_kib, "the size from du", partial=True)
    if sizes is None:
        return v
    if not sizes:
        v.unknown("du printed no size for registry_regdata")
        return v
    used_kib = sizes[0][0]
    du = ctx.host(server).get("registry_du")
    unread = [(p, why) for p, why in fs.parse_du_errors(du.stderr) if why != fs.DU_VANISHED]
    configured = ctx.ini("registry_max_size").strip()
    if configured:
        try:
            limit_kib, why = parse_size_kib(configured), f"registry_max_size {configured}"
        except ValueError:
            v.unknown(f"pytest.ini registry_max_size = {configured!r} is not a size like 20G")
            return v
    else:
        filesystems = ctx.parsed(v, server, "registry_df", fs.parse_df_posix, "df", partial=True)
        if filesystems is None:
            return v
        if not filesystems:
            v.unknown("df named no filesystem holding registry_regdata")
            return v
        holder = filesystems[0]
        limit_kib = holder.size_kib // 2
        why = f"50 % of the {human_kib(holder.size_kib)} filesystem {holder.target}"
    v.data.update(used_kib=used_kib, limit_kib=limit_kib)
    at_least = "at least " if unread else ""
    if used_kib > limit_kib:
        v.fail(f"{VOLUME} is {at_least}{gib_ceil(used_kib)}G ({human_kib(used_kib)}; du -s -B G), "
               f"above its limit {human_kib(limit_kib)} ({why})")
    elif unread:
        path, reason = unread[0]
        v.unknown(f"du could not read {path or 'all of it'} ({reason}"
                  + (f", and {len(unread) - 1} more" if len(unread) > 1 else "")
                  + f"): {VOLUME} is at least {human_kib(used_kib)}, its limit {human_kib(limit_kib)} "
                    f"({why}); what du could not read may hold the rest")
    return v
