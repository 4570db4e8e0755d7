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
    sizes = ctx.parsed(v, server, "registry_du", fs.parse_du, "the size from du")
    if sizes is None:
        return v
    if not sizes:
        v.unknown("du printed no size for registry_regdata")
        return v
    used_kib = sizes[0][0]
    configured = ctx.ini("registry_max_size").strip()
    if configured:
        try:
            limit_kib, why = parse_size_kib(configured), f"registry_max_size {configured}"
        except ValueError:
            v.unknown(f"pytest.ini registry_max_size = {configured!r} is not a size like 20G")
            return v
    else:
        filesystems = ctx.parsed(v, server, "registry_df", fs.parse_df_posix, "df")
        if filesystems is None:
            return v
        if not filesystems:
            v.unknown("df named no filesystem holding registry_regdata")
            return v
        holder = filesystems[0]
        limit_kib = holder.size_kib // 2
        why = f"50 % of the {human_kib(holder.size_kib)} filesystem {holder.target}"
    v.data.update(used_kib=used_kib, limit_kib=limit_kib)
    if used_kib > limit_kib:
        v.fail(f"{VOLUME} is {gib_ceil(used_kib)}G ({human_kib(used_kib)}; du -s -B G), "
               f"above its limit {human_kib(limit_kib)} ({why})")
    return v
