"""Runbook 7.4: a DRBD-backed docker volume fills up.

Zabbix: "Exceed 90% Docker volume <vol> in <svc> usage (<h>)". Zabbix measures from inside the
container; the same filesystem is mounted on the node that runs the task, so its df is read
there. A volume mounted nowhere is not in use and has no usage to check.
"""

from hivehealth.gather.sections import declare
from hivehealth.parsers import docker as dockerp
from hivehealth.parsers import fs
from hivehealth.parsers.sizes import human_kib
from hivehealth.judge.verdict import OK, Verdict
from hivehealth.shell import command


# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    containers=("hive", "$DOCKER ps --no-trunc --format '{{json .}}'"),
)


def test_volume(volume, verify):
    verify(volume_usage, volume)


def volume_usage(ctx, name) -> Verdict:
    limit = ctx.number("volume_usage_max")
    v = Verdict(f"volume {name}", alert=f"Exceed {limit:g}% Docker volume {name} in <service> usage ({ctx.site.name})")
    target = f"/var/lib/docker/volumes/{name}/_data"
    mounted, unread = [], []
    for hive in ctx.site.hives:
        # df exits 1 when it cannot read some mount, and lists the others
        df = ctx.section(v, hive, "df", cite=False, quiet=True, partial=True)
        if df is None:
            unread.append(hive.name)
            continue
        for f in fs.parse_df_posix(df.stdout):
            if f.target == target:
                mounted.append((hive, f))
                v.cite(hive.name, df)
        failed = fs.parse_df_errors(df.stderr).get(target)
        if failed:
            v.cite(hive.name, df)
            v.unknown(f"df cannot read its mount {target} on {hive.name}: {failed}")
    if v.status != OK:
        return v
    if not mounted:
        if unread:
            v.unknown(f"not mounted on any readable hive; could not read {', '.join(unread)}")
        else:
            v.skip(f"volume {name} is not mounted on any hive: not in use")
        return v
    for hive, f in mounted:
        service = _service_using(ctx, hive, name) or "<service>"
        v.alert = f"Exceed {limit:g}% Docker volume {name} in {service} usage ({ctx.site.name})"
        v.data.update(host=hive.name, device=f.source, service=service, use_pct=f.use_pct)
        if f.use_pct > limit:
            v.fail(f"{f.use_pct} % full on {hive.name} (limit {limit:g} %; {human_kib(f.used_kib)} of "
                   f"{human_kib(f.size_kib)} on {f.source})")
            v.notes.append(
                f"resize (runbook 7.4, corrected): back up ({command('hive-backup.sh', '-l', service)}), "
                f"{command('hive', 'deploy-services', '-l', service, '-D')}, "
                f"{command('hive', 'build-volumes', '-l', name, '-D')}, raise drbd.size, "
                f"{command('hive', 'build-volumes', '-l', name)}, {command('hive', 'deploy-services', '-l', service)}, "
                f"{command('hive-backup.sh', '-l', service, '-r')}")
    return v


def _service_using(ctx, hive, volume) -> str | None:
    r = ctx.host(hive).get("containers")
    if r is None or not r.ok:
        return None
    return dockerp.service_using_volume(r.stdout, volume)
