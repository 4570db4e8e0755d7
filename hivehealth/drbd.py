"""One DRBD resource judged across every hive that should hold it (runbook 7.7).

Each host's own view is the authority on its own disk, role and quorum; connection, replication
and peer-disk states come from both ends, because some faults show on one side only (7.7b).
Every finding names the host (or "host -> peer"), the object, the measured and the expected
state; the report's shape is the most serious finding's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .parsers.drbd import SYNC_STATES, Connection, ResourceView

HEALTHY = "healthy"
RESYNC = "resync"
ALL_OUTDATED = "all-outdated"
ONE_SIDED = "one-sided"
STANDALONE = "standalone"
CONNECTING = "connecting"
DISKLESS = "diskless"
QUORUM_LOST = "quorum-lost"
NOT_UP = "not-up"
MULTI_PRIMARY = "multi-primary"
UNREADABLE = "unreadable"
DEGRADED = "degraded"

# Most serious first: the report's shape is the first of these that any finding has.
SEVERITY = (UNREADABLE, STANDALONE, MULTI_PRIMARY, ALL_OUTDATED, QUORUM_LOST, DISKLESS,
            ONE_SIDED, NOT_UP, CONNECTING, RESYNC, DEGRADED, HEALTHY)

_SUMMARY = {
    HEALTHY: "healthy",
    RESYNC: "resync in progress",
    ALL_OUTDATED: "all copies Outdated (runbook 7.7a)",
    ONE_SIDED: "one-sided connection, WFBitMapS/Consistent on one side only (runbook 7.7b)",
    STANDALONE: "connection StandAlone: split brain or manual disconnect, resolve manually",
    CONNECTING: "not connected: peer down, resource down on the peer, or port blocked",
    DISKLESS: "Diskless without client: backing disk failed or detached",
    QUORUM_LOST: "quorum lost (a Primary gets I/O errors)",
    NOT_UP: "resource not up on every hive that should hold it",
    MULTI_PRIMARY: "more than one Primary",
    UNREADABLE: "DRBD status could not be read on any hive",
    DEGRADED: "degraded",
}

# Replication states that are fine on a Connected peer device. Online verify is maintenance,
# not a fault.
_OK_REPLICATION = frozenset({"Established", "VerifyS", "VerifyT"})
_BITMAP_STATES = frozenset({"WFBitMapS", "WFBitMapT"})


@dataclass
class DrbdReport:
    name: str
    healthy: bool
    shape: str
    problems: list[str] = field(default_factory=list)
    resync: dict[str, float] = field(default_factory=dict)   # target host -> percent done
    primaries: list[str] = field(default_factory=list)
    clean_side: str | None = None   # one-sided: host whose view looks normal; run disconnect/connect there

    def summary(self) -> str:
        text = f"{self.name}: {_SUMMARY[self.shape]}"
        if self.shape == ONE_SIDED and self.clean_side:
            text += f"; run `drbdadm disconnect {self.name}; drbdadm connect {self.name}` on {self.clean_side}"
        elif self.shape == RESYNC and self.resync:
            text += ": " + ", ".join(f"{h} {p:g} % done" for h, p in sorted(self.resync.items()))
        elif self.shape == HEALTHY and self.primaries:
            text += f" (Primary: {', '.join(self.primaries)})"
        return text


def short(host: str) -> str:
    return host.split(".", 1)[0]


def analyze(name: str, views: dict[str, ResourceView | None | str], expected: list[str],
            diskless: set[str] = frozenset()) -> DrbdReport:
    """Judge resource `name` from each host's view (None: not up there; str: unreadable, why)."""
    return _Analysis(name, views, expected, diskless).report()


class _Analysis:
    def __init__(self, name, views, expected, diskless):
        self.name = name
        self.views = dict(views)
        for h in expected:  # a hive nobody asked is as good as unreadable
            self.views.setdefault(h, "no DRBD status was collected")
        self.expected = list(expected)
        self.diskless_short = {short(h) for h in diskless}
        self.by_short = {short(h): h for h in self.views}
        self.readable = {h: v for h, v in self.views.items() if isinstance(v, ResourceView)}
        self.findings: list[tuple[str, str]] = []
        self.resync: dict[tuple[str, int | None], float | None] = {}
        self.clean_side: str | None = None
        self.primary_list: list[str] = []

    def add(self, shape: str, text: str):
        if (shape, text) not in self.findings:
            self.findings.append((shape, text))

    def host(self, peer: str) -> str:
        """Full host name for a peer name as DRBD prints it (full or short)."""
        return self.by_short.get(short(peer), peer)

    def intended_diskless(self, host: str) -> bool:
        return short(host) in self.diskless_short

    # -----------------------------------------------------------------------------------------

    def report(self) -> DrbdReport:
        # a view that could not be read is only "unreadable" when no view at all could be read;
        # otherwise the readable views carry the verdict and this one is one more problem
        if not self.views:
            self.add(UNREADABLE, f"{self.name}: no hive to read (expected at least one)")
        self._hosts(UNREADABLE if not self.readable else DEGRADED)
        if self.readable:
            all_outdated = self._all_outdated()
            for h, v in self.readable.items():
                self._local(h, v, all_outdated)
                for c in v.connections:
                    self._connection(h, c)
                self._missing_connections(h, v)
            self._primaries()
            for (target, vol), done in self.resync.items():
                what = f"{target} volume {vol}" if vol is not None else target
                pct = f"{done:g} % done" if done is not None else "percent done not shown (stalled?)"
                self.add(RESYNC, f"resync in progress: {what} {pct}")
        shape = min((s for s, _ in self.findings), key=SEVERITY.index, default=HEALTHY)
        return DrbdReport(
            name=self.name, healthy=not self.findings, shape=shape,
            problems=[t for _, t in self.findings],
            resync=self._resync_by_host(), primaries=self.primary_list,
            clean_side=self.clean_side if shape == ONE_SIDED else None)

    def _resync_by_host(self) -> dict[str, float]:
        """Target host -> percent done; with several volumes, the least advanced one."""
        out: dict[str, float] = {}
        for (target, _), done in self.resync.items():
            if done is not None:
                out[target] = min(done, out.get(target, done))
        return out

    def _hosts(self, unreadable_shape: str):
        for h, v in self.views.items():
            if isinstance(v, str):
                self.add(unreadable_shape, f"{h}: DRBD status unreadable: {v} (expected a status to read)")
            elif v is None and h in self.expected:
                self.add(NOT_UP, f"{h}: resource {self.name} not up (No such resource; expected up, "
                                 f"see drbd-resource@{self.name}.service)")

    def _all_outdated(self) -> bool:
        """Runbook 7.7a: every copy Outdated, UpToDate nowhere (own disks or peer disks)."""
        disks = [d.disk for v in self.readable.values() for d in v.devices
                 if not (d.client or d.disk == "Diskless")]
        peer_disks = [p.peer_disk for v in self.readable.values() for c in v.connections
                      for p in c.peer_devices]
        return bool(disks) and all(d == "Outdated" for d in disks) and "UpToDate" not in peer_disks

    def _local(self, h: str, v: ResourceView, all_outdated: bool):
        if v.suspended:
            shape = QUORUM_LOST if "quorum" in v.suspended else DEGRADED
            self.add(shape, f"{h}: I/O suspended:{v.suspended} (expected not suspended)")
        multi = len(v.devices) > 1
        syncing_here = self._sync_targets(h, v)
        for d in v.devices:
            obj = f"volume {d.volume} disk" if multi else "disk"
            if d.quorum is False:
                quorum = f"volume {d.volume} quorum" if multi else "quorum"
                self.add(QUORUM_LOST, f"{h}: {quorum} lost (quorum:no; expected quorum:yes)")
            if d.disk == "UpToDate":
                continue
            if d.disk == "Diskless":
                if d.client or self.intended_diskless(h):
                    continue
                self.add(DISKLESS, f"{h}: {obj} Diskless without client:yes (expected UpToDate; "
                                   f"backing disk failed or detached)")
            elif d.disk == "Outdated" and all_outdated:
                self.add(ALL_OUTDATED, f"{h}: {obj} Outdated (expected UpToDate; no UpToDate copy anywhere)")
            elif d.disk == "Inconsistent" and d.volume in syncing_here:
                continue    # reported once as the resync
            else:
                self.add(DEGRADED, f"{h}: {obj} {d.disk} (expected UpToDate)")

    def _sync_targets(self, h: str, v: ResourceView) -> set[int]:
        """Volumes of h being resynced: h says SyncTarget, or a peer says SyncSource towards h."""
        vols = {p.volume for c in v.connections for p in c.peer_devices
                if p.replication in ("SyncTarget", "PausedSyncT")}
        for other, ov in self.readable.items():
            for c in ov.connections:
                if other != h and self.host(c.peer) == h:
                    vols |= {p.volume for p in c.peer_devices if p.replication in ("SyncSource", "PausedSyncS")}
        return vols

    def _connection(self, h: str, c: Connection):
        peer = self.host(c.peer)
        link = f"{h} -> {peer}"
        if c.state == "StandAlone":
            self.add(STANDALONE, f"{link}: connection StandAlone (expected Connected; split brain or "
                                 f"manual disconnect)")
            return
        if c.state != "Connected":
            self.add(CONNECTING, f"{link}: connection {c.state} (expected Connected)")
            return
        peer_view = self.readable.get(peer)
        multi = len(c.peer_devices) > 1
        for p in c.peer_devices:
            vol = f"volume {p.volume} " if multi else ""
            if p.replication in SYNC_STATES:
                target = peer if p.replication in ("SyncSource", "PausedSyncS") else h
                key = (target, p.volume if multi else None)
                if self.resync.get(key) is None:
                    self.resync[key] = p.done
                continue
            if p.replication in _BITMAP_STATES or p.peer_disk == "Consistent":
                self._one_sided(h, peer, p.volume, f"{link}: {vol}replication:{p.replication} "
                                                   f"peer-disk:{p.peer_disk}")
                continue
            if p.replication not in _OK_REPLICATION:
                self.add(DEGRADED, f"{link}: {vol}replication {p.replication} (expected Established)")
            if peer_view is not None:
                continue    # the peer's own view judges its disk
            if p.peer_disk == "UpToDate":
                continue
            if p.peer_disk == "Diskless" and (p.peer_client or self.intended_diskless(peer)):
                continue
            shape = DISKLESS if p.peer_disk == "Diskless" else DEGRADED
            extra = f", resync-suspended:{p.resync_suspended}" if p.resync_suspended not in (None, "no") else ""
            self.add(shape, f"{link}: {vol}peer-disk {p.peer_disk} (expected UpToDate{extra})")

    def _one_sided(self, h: str, peer: str, volume: int, seen: str):
        """7.7b: h shows WFBitMapS/Consistent for peer; if peer's own view is clean, fix there."""
        pv = self.readable.get(peer)
        clean = pv is not None and all(d.disk == "UpToDate" for d in pv.devices) and any(
            self.host(c.peer) == h and c.state == "Connected"
            and all(p.replication in _OK_REPLICATION and p.peer_disk == "UpToDate" for p in c.peer_devices)
            for c in pv.connections)
        if clean:
            self.clean_side = self.clean_side or peer
            self.add(ONE_SIDED, f"{seen} (expected Established peer-disk:UpToDate) while {peer}'s own "
                                f"view of {h} is clean: run disconnect/connect on {peer}")
        else:
            self.add(DEGRADED, f"{seen} (expected Established peer-disk:UpToDate)")

    def _missing_connections(self, h: str, v: ResourceView):
        if h not in self.expected:
            return
        seen = {short(c.peer) for c in v.connections}
        for other in self.expected:
            if other != h and short(other) not in seen:
                self.add(CONNECTING, f"{h} -> {other}: no connection (expected Connected)")

    def _primaries(self):
        prim = [h for h, v in self.readable.items() if v.role == "Primary"]
        # a host whose own view is missing still counts if its peers see it as Primary
        for h, v in self.readable.items():
            for c in v.connections:
                peer = self.host(c.peer)
                if c.peer_role == "Primary" and peer not in self.readable and peer not in prim:
                    prim.append(peer)
        self.primary_list = prim
        if len(prim) > 1:
            self.add(MULTI_PRIMARY, f"{', '.join(prim)}: role Primary on {len(prim)} hosts "
                                    f"(expected at most one Primary)")
