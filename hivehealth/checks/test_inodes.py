"""Inodes per filesystem (zabbix's built-in "<fs>: Running out of free inodes (free < 20%)").

overlay2's image layers and the registry's blobs are many small files: a filesystem can run
out of inodes while `df` still shows free space, and then nothing can create a file. zabbix
alerts when free inodes fall below 20 %; this check fails above `inode_usage_max` (80) % used,
on every real filesystem (`df -i`), /var/lib/docker included. Filesystems without a fixed inode
table (btrfs prints 0) are left out. Remedy (fixes/inodes.py): docker system prune, as for a
full disk (runbook 7.1); else the biggest consumers are named.
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import fs, inodes
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command, pipeline


# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    # inodes per filesystem (the built-in vfs.fs.inode[<fs>,pfree])
    df_inodes=("all", "$SUDO df -P -T -i"),
)


@pytest.mark.roles("all")
def test_inodes(server, verify):
    verify(inode_usage, server)


def docker_filesystem(rows) -> str | None:
    """The mount point /var/lib/docker lives on (the longest one that contains it)."""
    holding = [r.target for r in rows
               if "/var/lib/docker".startswith(r.target.rstrip("/") + "/") or r.target == "/var/lib/docker"
               or r.target == "/"]
    return max(holding, key=len) if holding else None


def inode_usage(ctx, server) -> Verdict:
    limit = ctx.number("inode_usage_max")
    free_min = 100 - limit
    v = Verdict(server.name, alert=f"<mount>: Running out of free inodes (free < {free_min:g}%)")
    rows = ctx.parsed(v, server, "df_inodes", inodes.parse_df_inodes, "df -i", partial=True)
    if rows is None:
        return v
    mnt = ctx.host(server).get("findmnt")
    try:
        mounts = fs.parse_findmnt_json(mnt.stdout) if mnt and mnt.ok else None
    except fs.ParseError:
        mounts = None
    keep = {(f.source, f.target) for f in fs.real_filesystems([r.as_filesystem() for r in rows], mounts)}
    real = [r for r in rows if (r.source, r.target) in keep and r.inodes > 0 and r.use_pct is not None]
    if not real:
        v.unknown("df -i listed no real filesystem with an inode table")
        return v
    # df rounds IUse% up, like Use%: at "80%" the exact share is at most 80 and zabbix's
    # "free < 20%" does not fire; neither does this check
    full = [r for r in real if r.use_pct > limit]
    for r in full:
        v.fail(f"{r.target} has {r.use_pct} % of its inodes in use (limit inode_usage_max "
               f"{limit:g} %; {r.used} of {r.inodes}, {r.free} free, on {r.source} {r.fstype})")
    if full:
        v.alert = f"{full[0].target}: Running out of free inodes (free < {free_min:g}%)"
        v.data["mounts"] = [r.target for r in full]
        docker = docker_filesystem(real)
        v.data["docker"] = docker is not None and docker in [r.target for r in full]
        for r in full:
            if r.target != docker:
                look = pipeline(command("du", "--inodes", "-x", "-d", "2", r.target, sudo=True),
                                command("sort", "-n"), command("tail"))
                v.notes.append(f"look: {look} (the directories holding the most files on {r.target})")
    v.data["usage"] = {r.target: r.use_pct for r in real}
    return v
