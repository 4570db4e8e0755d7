"""Runbook 7.7: DRBD sync failures, by the shape test_drbd names.

Every remedy that changes a DRBD state reads every hive's `drbdadm status <res>` after each of
its commands (a Watch) and goes on only from what it read: a StandAlone link, a hive whose
state cannot be read or a resource gone down stops it before its next command, with what the
operator does next. DRBD 9 acts per connection: a command meant for one link names it
(`<res>:<peer>`), so the other links of the node keep their quorum and their state.
"""
from __future__ import annotations

from hivehealth.checks.test_drbd import drbd_state
from hivehealth.judge import drbd as judge
from hivehealth.judge.cluster import manager_answers, no_manager_answered
from hivehealth.judge.services import service_using_volume
from hivehealth.parsers import ParseError
from hivehealth.parsers.drbd import ResourceView, parse_status_text
from hivehealth.remedy import names
from hivehealth.remedy.plan import RISKY, SAFE, Cmd, Decision, Plan, Step, Watch, all_of, remedy

SETTLED = ("Inconsistent", "Sync", "WFBitMap", "Connecting", "Outdated", "Consistent", "StandAlone")
SETTLE_WAIT = 120        # seconds a watch waits for DRBD to settle (a resync of hive's volumes)
_RESYNCING = frozenset({"SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT", "StartingSyncS",
                        "StartingSyncT", "WFBitMapS", "WFBitMapT", "WFSyncUUID"})
NEVER_WORSE = ("it never leaves the cluster worse than it found it: every hive's DRBD state is read "
               "after each command, and a StandAlone link (a split brain), a hive that cannot be read "
               "or a resource gone down stops it before its next command, with what to do")


def _settled(output: str) -> bool:
    """`drbdadm status <res>` shows every disk and peer disk UpToDate and nothing in flight."""
    return "UpToDate" in output and not any(word in output for word in SETTLED)


def drbdadm(*args) -> Cmd:
    return Cmd("drbdadm", *args, root=True)


# --- reading every hive ---------------------------------------------------------------------

class ClusterState:
    """One resource as every hive's `drbdadm status <res>` showed it during a remedy."""

    def __init__(self, name: str, views: dict[str, ResourceView], hosts, problems=()):
        self.name = name
        self.views = dict(views)
        self.problems = list(problems)      # hosts whose state is not known, with why
        self.by_short = {judge.short(h): h for h in hosts}

    @classmethod
    def read(cls, name: str, answers: dict[str, tuple[int, str]]) -> "ClusterState":
        """From each host's (exit code, output) of `drbdadm status <res>`."""
        self = cls(name, {}, answers)
        for host, (rc, out) in answers.items():
            try:
                view = next((v for v in parse_status_text(out, whole=rc == 0) if v.name == name), None)
            except ParseError as e:
                self.problems.append(f"{host}: its DRBD state cannot be read ({e})")
                continue
            if view is not None:
                self.views[host] = view
            elif "No such resource" in out or rc == 0:
                self.problems.append(f"{host}: resource {name} is not up")
            else:
                last = (out.strip().splitlines() or [f"exit {rc}"])[-1]
                self.problems.append(f"{host}: `drbdadm status {name}` failed: {last[:200]}")
        return self

    def host(self, peer: str) -> str:
        return self.by_short.get(judge.short(peer), peer)

    def links(self):
        """(host, peer host, connection) for every connection every readable host shows."""
        for h, v in self.views.items():
            for c in v.connections:
                yield h, self.host(c.peer), c

    def standalone(self) -> list[tuple[str, str]]:
        return [(h, p) for h, p, c in self.links() if c.state == "StandAlone"]

    def resyncing(self) -> list[str]:
        return [f"{h} -> {p}: {pd.replication}" for h, p, c in self.links() for pd in c.peer_devices
                if pd.replication in _RESYNCING]

    def unsettled(self) -> list[tuple[str, str, str]]:
        """(host, peer, what) for each link not Connected/Established with UpToDate on both ends."""
        out = []
        for h, p, c in self.links():
            if c.state != "Connected":
                out.append((h, p, f"connection {c.state}"))
            for pd in c.peer_devices if c.state == "Connected" else ():
                if pd.replication != "Established" or pd.peer_disk != "UpToDate":
                    out.append((h, p, f"replication:{pd.replication} peer-disk:{pd.peer_disk}"))
        for h, v in self.views.items():
            for d in v.devices:
                if d.disk != "UpToDate" and not d.client:
                    out.append((h, h, f"disk {d.disk}"))
        return out

    def peer_name(self, h: str, peer: str) -> str:
        """peer as h's DRBD names it (the name `drbdadm <cmd> <res>:<peer>` takes on h)."""
        return next((c.peer for c in self.views[h].connections if self.host(c.peer) == peer), peer)

    def shown(self) -> str:
        return "; ".join(f"{h}: {v.role} {'/'.join(d.disk for d in v.devices)}, "
                         + ", ".join(f"{judge.short(c.peer)} {c.state}" for c in v.connections)
                         for h, v in self.views.items())


def watch(hosts: list[str], name, why: str, decide) -> Watch:
    return Watch(hosts, drbdadm("status", name), why,
                 lambda answers: decide(ClusterState.read(str(name), answers)), wait=SETTLE_WAIT)


def _stop_on_trouble(state: ClusterState, expected_standalone=frozenset()) -> str | None:
    """Why the remedy must stop now (a hive not read, a StandAlone link it did not expect)."""
    if state.problems:
        return ("; ".join(state.problems)
                + f" (state read: {state.shown() or 'none'})")
    pairs = {frozenset(x) for x in state.standalone()} - set(expected_standalone)
    if pairs:
        text = "; ".join(split_brain_guidance(state.name, *sorted(pair), state) for pair in sorted(pairs, key=sorted))
        return f"a link went StandAlone ({state.shown()}). {text}"
    return None


# --- split brain: what the operator does -----------------------------------------------------

def split_brain_guidance(name, a: str, b: str, state: ClusterState | None = None,
                         link: judge.SplitBrainLink | None = None) -> str:
    """The per-connection resolution of a split brain between hosts a and b (drbdadm(8),
    DRBD 9: on three nodes a resource-wide connect fails with "(125) Device has a net-config"
    while the node's other link is up). The survivor's copy is kept, the victim's changes since
    the split are discarded; the suggestion follows what DRBD's handshake counted and the
    roles and disks the hives show, and the operator may swap the two."""
    def peer_on(h, other):
        if link is not None:
            return link.peer_name.get(h, other)
        return state.peer_name(h, other) if state is not None and h in state.views else other

    role = dict(link.role) if link else {}
    disk = dict(link.disk) if link else {}
    if state is not None:
        for h in (a, b):
            if h in state.views:
                role[h] = state.views[h].role
                disk[h] = ",".join(d.disk for d in state.views[h].devices)
    changed = link.changed_kib if link else {}
    victim, reason = _suggest_victim(a, b, role, disk, changed)
    survivor = b if victim == a else a
    res = names.drbd_resource(name)
    on_victim = [drbdadm("disconnect", names.drbd_connection(res, peer_on(victim, survivor))),
                 drbdadm("secondary", res),
                 drbdadm("connect", "--discard-my-data", names.drbd_connection(res, peer_on(victim, survivor)))]
    on_survivor = drbdadm("connect", names.drbd_connection(res, peer_on(survivor, victim)))
    counted = ""
    if a in changed and b in changed:
        counted = (f" DRBD's handshake counted {changed[a]} KiB changed on {a} only and "
                   f"{changed[b]} KiB on {b} only.")
    return (f"Split brain between {a} and {b}: their copies diverged and DRBD keeps the link "
            f"StandAlone until one copy's changes are discarded (a human decision; back up the "
            f"victim's data first if in doubt).{counted} Suggested victim: {victim} ({reason}); to "
            f"keep its copy instead, swap the two nodes below. Stop the service using {res} if "
            f"{victim} is its Primary. On the victim {victim}: "
            + "; ".join(c.shell("sudo ") for c in on_victim)
            + f". Then on the survivor {survivor}: {on_survivor.shell('sudo ')}"
            + f" (per connection: its other links stay up). Then check again")


def _suggest_victim(a, b, role, disk, changed) -> tuple[str, str]:
    if a in changed and b in changed:
        if changed[a] == 0 and changed[b] > 0:
            return a, "it has no changes that the other lacks: discarding them loses nothing"
        if changed[b] == 0 and changed[a] > 0:
            return b, "it has no changes that the other lacks: discarding them loses nothing"
    for h, other in ((a, b), (b, a)):
        if role.get(other) == "Primary" and role.get(h) != "Primary":
            return h, f"{other} is the Primary, serving the application"
    for h, other in ((a, b), (b, a)):
        if "UpToDate" in disk.get(other, "") and "UpToDate" not in disk.get(h, ""):
            return h, f"its disk is {disk.get(h, 'unknown')}, {other}'s UpToDate"
    if a in changed and b in changed and changed[a] == changed[b] == 0:
        return b, "neither has changes the other lacks: discarding either loses nothing"
    return b, "nothing DRBD shows tells the newer copy: compare the data on both first"


# --- remedies --------------------------------------------------------------------------------

def _unknown_hives(views: dict) -> list[str]:
    return [f"{h}: {v}" if isinstance(v, str) else f"{h}: resource not up"
            for h, v in views.items() if not isinstance(v, ResourceView)]


@remedy(drbd_state, tier=SAFE)
def reconnect_one_sided(ctx, name, verdict):
    """7.7(b): one side shows WFBitMapS / peer-disk Consistent; reconnect from the side whose
    view looks normal."""
    if verdict.data.get("shape") != "one-sided":
        return None
    clean = verdict.data.get("clean_side")
    if not clean:
        return Plan(refused="no host has a clean view of the resource to reconnect from")
    name = names.drbd_resource(name)
    return Plan(steps=[
        Step(clean, all_of(drbdadm("disconnect", name), drbdadm("connect", name)),
             f"runbook 7.7(b): {clean}'s view is the normal one"),
        Step(clean, drbdadm("status", name), "wait until the peers are back in sync",
             until=_settled, wait=60)])


@remedy(drbd_state, tier=SAFE)
def reconnect_disconnected(ctx, name, verdict):
    """A link StandAlone on one end only (`drbdadm disconnect` was run there; no split brain
    logged): connect that link on that end, one link at a time, nothing discarded. DRBD's
    handshake still refuses a copy that diverged: the link then drops to StandAlone again and
    the remedy stops with the split-brain guidance."""
    if verdict.data.get("shape") != judge.DISCONNECTED:
        return None
    views = verdict.data.get("views", {})
    unknown = _unknown_hives(views)
    if unknown:
        return Plan(refused=f"cannot see every copy ({'; '.join(unknown)})")
    links = verdict.data.get("reconnect") or []
    if not links:
        return Plan(refused="no StandAlone end to connect was found")
    res = names.drbd_resource(name)
    hives = [h.name for h in ctx.site.hives]
    planned = {frozenset((h, _host_of(views, p))) for h, p in links}
    steps = [watch(hives, res, "every hive's state before connecting: the StandAlone links must "
                               "be the ones judged", lambda st: _check_before(st, planned))]
    remaining = set(planned)
    for h, peer in links:
        pair = frozenset((h, _host_of(views, peer)))
        remaining = remaining - {pair}
        steps.append(Step(h, drbdadm("connect", names.drbd_connection(res, peer)),
                          f"{h} disconnected this link; connect it from there (per connection)"))
        steps.append(watch(hives, res, f"every hive until {h}'s link to {peer} is Connected and "
                                       f"resynced",
                           lambda st, pair=pair, rest=frozenset(remaining): _link_settled(st, pair, rest)))
    return Plan(steps=steps, settle=3, notes=[f"{NEVER_WORSE}."])


def _host_of(views: dict, peer: str) -> str:
    return next((h for h in views if judge.short(h) == judge.short(peer)), peer)


def _check_before(state: ClusterState, planned: set) -> Decision:
    stop = _stop_on_trouble(state, expected_standalone=planned)
    if stop:
        return Decision(stop=stop)
    return Decision(done=True)


def _link_settled(state: ClusterState, pair: frozenset, rest: frozenset) -> Decision:
    """Done when the link is Connected on both ends and nothing resyncs; a StandAlone link
    other than those still to connect stops it (this one StandAlone again: split brain)."""
    stop = _stop_on_trouble(state, expected_standalone=rest)
    if stop:
        return Decision(stop=stop)
    a, b = sorted(pair)
    up = [(h, p) for h, p, c in state.links() if {h, p} == {a, b} and c.state == "Connected"]
    if len(up) < 2 or state.resyncing():
        return Decision(waiting_for=f"{a} <-> {b} Connected on both ends and no resync "
                                    f"({state.shown()})")
    return Decision(done=True)


@remedy(drbd_state, tier=RISKY)
def force_primary_all_outdated(ctx, name, verdict):
    """7.7(a): every copy Outdated. The first hive's copy is declared authoritative
    (`primary --force`); then only the links that are not Connected/Established with both ends
    UpToDate are reconnected, one at a time, per connection, each waited for on every hive."""
    if verdict.data.get("shape") != "all-outdated":
        return None
    views = verdict.data.get("views", {})
    unknown = _unknown_hives(views)
    if unknown:
        return Plan(refused=f"cannot see every copy ({'; '.join(unknown)}): one of them may be "
                            f"UpToDate or newer; forcing a primary could discard it")
    up_to_date = sorted({h for h, v in views.items() if any(d.disk == "UpToDate" for d in v.devices)}
                        | {f"{judge.short(c.peer)} (as {h} sees it)" for h, v in views.items()
                           for c in v.connections for p in c.peer_devices if p.peer_disk == "UpToDate"})
    if up_to_date:
        return Plan(refused=f"{', '.join(up_to_date)} still has an UpToDate copy; forcing another "
                            f"primary would discard it")
    standalone = [f"{h} -> {c.peer}" for h, v in views.items() for c in v.connections if c.state == "StandAlone"]
    if standalone:
        return Plan(refused=f"StandAlone connection ({', '.join(standalone)}): split brain or a "
                            f"manual disconnect; resolve it first")
    name = names.drbd_resource(name)
    first = next(s for s in ctx.site.hives if "first_hive" in s.roles)
    fv = views.get(first.name)
    quorum = 1 + sum(1 for c in fv.connections if c.state == "Connected")
    members = 1 + len(fv.connections)
    if quorum * 2 <= members:
        # DRBD allows `primary --force` without quorum: an isolated Primary fails every write
        # (on-no-quorum io-error) and its peers cannot resync from it
        return Plan(refused=f"{first.name} is connected to {quorum - 1} of its {members - 1} peers: "
                            f"Primary there would have no quorum (quorum majority); connect the "
                            f"hives first")
    if not manager_answers(ctx, "service_specs"):
        return Plan(refused=f"cannot tell which service uses {name}, which must be stopped first: "
                            + no_manager_answered(ctx, "service_specs", "docker service inspect"))
    svc = service_using_volume(ctx, name)
    hives = [h.name for h in ctx.site.hives]
    steps, restart = [], []
    if svc and svc.replicas:
        svc_name, replicas = names.service(svc.name), names.replicas(svc.replicas)
        steps.append(Step(first.name, Cmd("docker", "service", "scale", "-d", f"{svc_name}=0", root=True),
                          f"runbook 7.7: stop {svc.name} (was {svc.replicas} replicas) before touching DRBD"))
        restart.append(Step(first.name, Cmd("docker", "service", "scale", "-d", f"{svc_name}={replicas}",
                                            root=True), f"start {svc.name} again at its {svc.replicas} replicas"))
    reconnects = _Reconnects(name, first.name, hives)
    steps += [
        watch(hives, name, "every hive still all Outdated, nobody Primary, no StandAlone link",
              _still_all_outdated),
        Step(first.name, drbdadm("primary", "--force", name),
             "runbook 7.7(a): the first hive's copy becomes authoritative"),
        reconnects.watch(),
        Step(first.name, drbdadm("secondary", name), "runbook 7.7(a): back to Secondary"),
        watch(hives, name, "every hive UpToDate and Connected after secondary", _all_settled),
    ] + restart
    return Plan(steps=steps, settle=3, notes=[
        f"{NEVER_WORSE}; after `primary --force` only the links that are not Connected/Established "
        f"with UpToDate on both ends are reconnected (`drbdadm disconnect/connect "
        f"{name}:<peer>`), one at a time"])


def _still_all_outdated(state: ClusterState) -> Decision:
    stop = _stop_on_trouble(state)
    if stop:
        return Decision(stop=stop)
    changed = [f"{h}: {v.role} {d.disk}" for h, v in state.views.items() for d in v.devices
               if v.role == "Primary" or d.disk != "Outdated"]
    if changed:
        return Decision(stop=f"the state changed since it was judged ({', '.join(changed)}): nothing "
                             f"was run; check again")
    return Decision(done=True)


def _all_settled(state: ClusterState) -> Decision:
    stop = _stop_on_trouble(state)
    if stop:
        return Decision(stop=stop)
    left = state.unsettled()
    if left:
        return Decision(waiting_for="; ".join(f"{h} -> {p}: {w}" for h, p, w in left))
    return Decision(done=True)


class _Reconnects:
    """After `primary --force`: read every hive; while a resync runs, wait; a link that is not
    Connected/Established with both ends UpToDate is reconnected once, per connection, from
    the end that is not the new Primary; then every hive is read again the same way."""

    def __init__(self, name, primary: str, hives: list[str]):
        self.name, self.primary, self.hives = name, primary, hives
        self.done: set[frozenset] = set()

    def watch(self) -> Watch:
        return watch(self.hives, self.name, "every hive after `primary --force`: wait for it to "
                                            "settle; reconnect only a link that does not",
                     self.decide)

    def decide(self, state: ClusterState) -> Decision:
        stop = _stop_on_trouble(state)
        if stop:
            return Decision(stop=stop)
        left = state.unsettled()
        if not left:
            return Decision(done=True)
        waiting = "; ".join(f"{h} -> {p}: {w}" for h, p, w in left)
        # a resync runs, or a link reconnected here has not settled yet: wait for it (bounded)
        if state.resyncing() or any(frozenset((h, p)) in self.done for h, p, _ in left if h != p):
            return Decision(waiting_for=waiting)
        for h, p, what in left:
            if h == p:
                continue        # a disk: it follows its links
            pair = frozenset((h, p))
            if pair in self.done:
                continue
            end = p if h == self.primary else h
            other = h if end == p else p
            if end not in state.views:
                continue
            self.done.add(pair)
            conn = names.drbd_connection(self.name, state.peer_name(end, other))
            why = f"{h} -> {p} {what}: reconnect this link only, from {end}"
            return Decision(done=True, then=[
                Step(end, drbdadm("disconnect", conn), why),
                Step(end, drbdadm("connect", conn), why),
                self.watch()])
        return Decision(waiting_for=waiting)


@remedy(drbd_state, tier=SAFE)
def explain_split_brain(ctx, name, verdict):
    """A split brain (or a StandAlone link not told apart from one): no automatic action; which
    copy survives is the operator's call. The guidance names both nodes of each link and the
    exact commands, per connection."""
    shape = verdict.data.get("shape")
    if shape not in (judge.SPLIT_BRAIN, judge.STANDALONE):
        return None
    res = names.drbd_resource(name)
    views = verdict.data.get("views", {})
    links = verdict.data.get("split_brains") or []
    texts = [split_brain_guidance(res, sb.a, sb.b, link=sb) for sb in links]
    if not texts:
        pairs = sorted({tuple(sorted((h, _host_of(views, c.peer)))) for h, v in views.items()
                        if isinstance(v, ResourceView) for c in v.connections if c.state == "StandAlone"})
        state = ClusterState(str(res), {h: v for h, v in views.items() if isinstance(v, ResourceView)}, views)
        texts = []
        for a, b in pairs:
            ends = [(e, o) for e, o in ((a, b), (b, a)) if (e, o) in set(state.standalone())]
            connect = " and ".join(f"`{drbdadm('connect', names.drbd_connection(res, state.peer_name(e, o))).shell('sudo ')}` "
                                   f"on {e}" for e, o in ends)
            texts.append(f"if the link {a} <-> {b} was disconnected by hand, {connect} reconnects it "
                         f"(DRBD's handshake refuses a split brain, and drops the link again). "
                         + split_brain_guidance(res, a, b, state))
    if not texts:
        texts = ["no StandAlone link was seen: check again"]
    return Plan(refused="split brain needs a human decision: " + " | ".join(texts))
