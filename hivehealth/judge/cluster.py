"""Cluster objects (DRBD resources, swarm nodes, services, volumes) read from the facts.

Each finder returns the ids one test item is made for. When the source cannot be read at all,
the finder returns a placeholder id, so that the item exists and fails with the reason instead
of the area silently having no items.
"""
from __future__ import annotations

import re

from hivehealth.judge.context import Context
from hivehealth.gather.probe import manager_sections, managers_in_order
from hivehealth.parsers import ParseError
from hivehealth.parsers import docker as dockerp
from hivehealth.parsers import drbd as drbdp
from hivehealth.parsers import fs

NO_MANAGER = "(no-manager-answered)"

# fixture -> (finder, what the site has none of when the finder finds nothing); an area with a
# cluster object of its own declares its finder with @cluster_object
FINDERS: dict[str, tuple] = {}
# fixture -> (site, id) -> the server whose own view the object is, or None (a cluster-wide
# object): such an item is that server's, by its full name too (`-k s-hive1.pdns`, --limit)
SERVER_OF: dict[str, object] = {}


def cluster_object(fixture: str, what: str, server_of=None):
    """Declare a finder: a check taking the fixture `fixture` gets one item per id it returns."""
    def wrap(finder):
        if FINDERS.get(fixture, (finder,))[0] is not finder:
            raise ValueError(f"cluster object {fixture} already has the finder {FINDERS[fixture][0].__qualname__}")
        FINDERS[fixture] = (finder, what)
        if server_of is not None:
            SERVER_OF[fixture] = server_of
        return finder
    return wrap


def server_of_node(site, name: str):
    """A swarm node's server: the one whose short name the node's item is keyed by (node_name)."""
    return next((s for s in site.servers if s.short == name), None)
VOLUME_MOUNT = re.compile(r"^/var/lib/docker/volumes/([^/]+)/_data$")


def drbd_views(ctx: Context, host) -> list | str:
    """A hive's DRBD resources: structured output first, the text format as fallback.
    Returns the parsed views, or a string saying why they could not be read."""
    facts = ctx.host(host)
    if facts.unreachable:
        return f"unreachable: {facts.unreachable}"
    js, text = facts.get("drbd_json"), facts.get("drbd_text")
    reasons = []
    # the text is a whole stdout: a missing end-of-resource blank line means it was cut short
    for r, parse in ((js, drbdp.parse_status_json),
                     (text, lambda out: drbdp.parse_status_text(out, whole=True))):
        if r is None:
            continue
        if r.ok:
            try:
                return parse(r.stdout)
            except ParseError as e:
                reasons.append(str(e))
        else:
            reasons.append(r.failure())
    return "; ".join(reasons) or "DRBD state was not gathered"


@cluster_object("drbd_resource", "DRBD resource")
def drbd_resources(ctx: Context) -> list[str]:
    names = set(ctx.site.drbd_device_map)
    for h in ctx.site.hives:
        views = drbd_views(ctx, h)
        if isinstance(views, list):
            names.update(v.name for v in views)
    return sorted(names)


def manager_answers(ctx: Context, section: str) -> list[tuple[str, object]]:
    """(hive, CommandResult) for every hive that answered `section` successfully, first_hive first."""
    out = []
    for h in managers_in_order(ctx.site):
        f = ctx.host(h)
        r = None if f.unreachable else f.get(section)
        if r is not None and r.ok:
            out.append((h.name, r))
    return out


def no_manager_answered(ctx: Context, section: str, command: str) -> str:
    """The failure when no hive answered a swarm question, with each hive's reason."""
    return f"no manager answered `{command}`: " + "; ".join(
        f"{h.name}: {_why_silent(ctx, h, section)}" for h in ctx.site.hives)


def _why_silent(ctx: Context, hive, section: str) -> str:
    f = ctx.host(hive)
    if f.unreachable:
        return f"unreachable: {f.unreachable}"
    r = f.get(section)
    if r is not None:
        return r.failure()
    # a manager-only question goes to one manager at a time (gather._ask_next_manager)
    return "not asked (another manager was)" if section in manager_sections() else "not gathered"


@cluster_object("service", "swarm service")
def services(ctx: Context) -> list[str]:
    answers = manager_answers(ctx, "services")
    if not answers:
        return [NO_MANAGER] if ctx.site.hives and ctx.site.kind != "local" else []
    try:
        return sorted(s.name for s in dockerp.parse_services(answers[0][1].stdout))
    except ParseError:
        return [NO_MANAGER]


def node_name(site, hostname: str) -> str:
    """The item name of a swarm node: the server's short name when docker's hostname is that
    server's short name, its full name, or a full name under another domain (a server whose
    hostname is set to its FQDN); any other node keeps the hostname docker gives."""
    first = hostname.split(".")[0]
    for s in site.servers:
        if hostname in (s.short, s.name) or first == s.short:
            return s.short
    return hostname


# how sure a `docker node ls` status is that the node is the live one (Ready first)
_LIVENESS = {"Ready": 0, "Unknown": 1, "Disconnected": 2, "Down": 3}


def node_entries(site, nodes: list, name: str) -> tuple[object | None, list, list]:
    """(live, stale, rivals) among the node entries named `name` (node_name).

    A server rebuilt and joined again without `docker node rm` has two entries: the new one and
    the old one, Down for good (and, for a manager, still a member of raft). live is the entry
    most alive; stale the other entries that are Down; rivals other entries that are not Down
    (two live machines with one hostname)."""
    entries = sorted((n for n in nodes if node_name(site, n.hostname) == name),
                     key=lambda n: _LIVENESS.get(n.status, 2))
    if not entries:
        return None, [], []
    live, others = entries[0], entries[1:]
    return live, [n for n in others if n.status == "Down"], [n for n in others if n.status != "Down"]


@cluster_object("swarm_node", "swarm node", server_of=server_of_node)
def swarm_nodes(ctx: Context) -> list[str]:
    names = {h.short for h in ctx.site.hives} if ctx.site.kind == "hive" else set()
    for _, r in manager_answers(ctx, "nodes"):
        try:
            names.update(node_name(ctx.site, n.hostname) for n in dockerp.parse_nodes(r.stdout))
        except ParseError:
            pass
    return sorted(names)


@cluster_object("volume", "DRBD volume")
def drbd_volumes(ctx: Context) -> list[str]:
    """The site's DRBD volumes (drbd_device_map), and any /dev/drbd* docker volume mounted."""
    names = set(ctx.site.drbd_device_map)
    for h in ctx.site.hives:
        r = ctx.host(h).get("df")
        if r is None or not r.ok:
            continue
        try:
            mounts = fs.parse_df_posix(r.stdout)
        except ParseError:
            continue
        for f in mounts:
            m = VOLUME_MOUNT.match(f.target)
            if m and f.source.startswith("/dev/drbd"):
                names.add(m.group(1))
    return sorted(names)
