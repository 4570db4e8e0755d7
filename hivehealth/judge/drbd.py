"""One DRBD resource judged across every hive that should hold it (runbook 7.7).

Each host's own view is the authority on its own disk, role and quorum; connection, replication
and peer-disk states come from both ends, because some faults show on one side only (7.7b).
Every finding names the host (or "host -> peer"), the object, the measured and the expected
state, and carries a status: fail (a fault that stays until someone acts), warn (heals itself:
a resync, a congested link), unknown (a view that could not be read). The report's shape is
the most serious finding's; its status the worst finding's (fail > unknown > warn).

What `drbdsetup status` / `drbdadm status` (text, --verbose, --statistics) and
`drbdsetup status --json` can print (drbd-utils user/v9/drbdsetup.c, state names from
drbd-headers drbd_strings.c), and what the operator is told:

  resource  role Primary/Secondary        ok; Primary on two hosts: fail (multi-primary)
            suspended:user                fail: `drbdadm suspend-io` was run, `resume-io` ends it
            suspended:no-data             fail: no UpToDate data reachable (on-no-data-accessible
                                          suspend-io); I/O resumes when an UpToDate peer returns
            suspended:fencing             fail: the fence-peer handler has not returned
            suspended:quorum              fail: quorum lost with on-no-quorum suspend-io
                                          (JSON: suspended-user/-no-data/-fencing/-quorum)
            force-io-failures:yes         fail: after `secondary --force` every I/O on the device
                                          errors until it is closed
            write-ordering, node-id       ok (configuration, not state)
  device    disk UpToDate                 ok
            disk Diskless client:yes      ok (intentional diskless client); client:no: fail
            disk Attaching/Negotiating    warn: attach in progress (seconds)
            disk Failed/Detaching         fail: backing disk I/O error / being detached
            disk Inconsistent             warn while it is a resync target, else fail
            disk Outdated                 fail (all copies Outdated: fail, runbook 7.7a)
            disk Consistent               fail (no peer has told it it is current, 7.7b)
            disk DUnknown (own disk)      unknown
            quorum:no                     fail (quorum lost)
            blocked:upper / lower         warn: application I/O held / backing disk congested;
                                          a snapshot cannot tell a moment from a hang
            open, minor, size, read, written, al-writes, bm-writes, upper-/lower-pending,
            al-suspended, backing_dev     ok (facts; open goes to the verdict's data)
  connection Connected                    ok
            StandAlone                    fail (split brain or manual disconnect)
            Connecting, Unconnected, Disconnecting, Timeout, BrokenPipe, NetworkFailure,
            ProtocolError, TearDown       fail (not connected)
            role (peer)                   ok; counts for multi-primary
            congested:yes                 warn: send buffer full (protocol A goes Ahead)
            tls, ap-in-flight, rs-in-flight, paths  ok (facts)
  peer dev  replication Established       ok
            VerifyS/VerifyT               ok (online verify is maintenance)
            SyncSource/SyncTarget         warn (resync, with done:)
            PausedSyncS/T                 warn if resync-suspended is peer/dependency/
                                          max-parallel (waits its turn); fail if user (waits
                                          for `drbdadm resume-sync`, forever)
            StartingSyncS/T, WFSyncUUID   warn (resync starting)
            WFBitMapS/T, peer-disk Consistent  fail (one-sided, runbook 7.7b)
            Ahead/Behind                  warn: congestion mode, resyncs when the link drains
            Off (while Connected)         unknown
            peer-disk UpToDate            ok; Diskless peer-client:yes ok, client:no fail;
                                          Outdated/Inconsistent not syncing fail; Failed/
                                          Detaching fail; Attaching/Negotiating warn;
                                          DUnknown while Connected unknown
            resync-suspended:user on Established  warn: the next resync will not start
            out-of-sync > 0 on Established towards an UpToDate peer  warn: blocks differ
                                          (online verify found them); only a disconnect/connect
                                          resyncs them
            done:                         the resync figure shown (JSON percent-resync-done;
                                          never percent-in-sync); absent: "not shown"
            received, sent, pending, unacked, percent-in-sync, rs-*, ov-*, want, db/dt, eta
                                          ok (statistics)
  A state word outside drbd_strings.c, a JSON cut short, or text without the blank line
  drbdsetup ends each resource with: that host's view is unreadable, unknown, never ok.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hivehealth.parsers.drbd import SYNC_STATES, Connection, ResourceView

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
SUSPENDED = "io-suspended"
IO_FAILING = "io-failing"
CONGESTED = "congested"
TRANSITIONAL = "transitional"

# Most serious first: the report's shape is the first of these that any finding has. A view
# that cannot be read comes first: no remedy may act on a resource not fully seen. Frozen or
# failing I/O comes before the states a remedy repairs (primary --force on all-outdated, a
# reconnect on one-sided): those must not run while applications hang on the device.
SEVERITY = (UNREADABLE, IO_FAILING, SUSPENDED, STANDALONE, MULTI_PRIMARY, ALL_OUTDATED,
            QUORUM_LOST, DISKLESS, ONE_SIDED, NOT_UP, CONNECTING, DEGRADED, TRANSITIONAL,
            RESYNC, CONGESTED, HEALTHY)

FAIL, UNKNOWN, WARN = "fail", "unknown", "warn"
_STATUS_ORDER = (FAIL, UNKNOWN, WARN)
_DEFAULT_STATUS = {UNREADABLE: UNKNOWN, RESYNC: WARN, CONGESTED: WARN, TRANSITIONAL: WARN}

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
    UNREADABLE: "state unknown: the DRBD status of a hive could not be read",
    DEGRADED: "degraded",
    SUSPENDED: "I/O suspended: applications using the device hang",
    IO_FAILING: "I/O forced to fail (force-io-failures): applications get I/O errors",
    CONGESTED: "I/O or replication congested (re-check: it passes when the load drops)",
    TRANSITIONAL: "in transition (re-check in a minute)",
}

# Replication states that are fine on a Connected peer device. Online verify is maintenance,
# not a fault.
_OK_REPLICATION = frozenset({"Established", "VerifyS", "VerifyT"})
_BITMAP_STATES = frozenset({"WFBitMapS", "WFBitMapT"})
_STARTING_SYNC = frozenset({"StartingSyncS", "StartingSyncT", "WFSyncUUID"})
_CONGESTION = frozenset({"Ahead", "Behind"})
_TRANSIENT_DISKS = frozenset({"Attaching", "Negotiating"})
_FAILING_DISKS = frozenset({"Failed", "Detaching"})
# drbd.conf(5) / drbdsetup(8): why I/O is suspended, and what ends it
_SUSPEND_WHY = {
    "user": "`drbdadm suspend-io` was run; `drbdadm resume-io {name}` ends it",
    "no-data": "no UpToDate data reachable (on-no-data-accessible suspend-io); I/O resumes when "
               "an UpToDate peer connects",
    "fencing": "the fence-peer handler has not returned (fencing resource-and-stonith)",
    "quorum": "quorum lost with on-no-quorum suspend-io; I/O resumes when quorum returns",
}


@dataclass
class DrbdReport:
    name: str
    healthy: bool
    shape: str
    problems: list[str] = field(default_factory=list)
    status: str = "ok"              # worst finding: fail > unknown > warn; ok when healthy
    findings: list[tuple[str, str, str]] = field(default_factory=list)   # (shape, status, text)
    suspended: dict[str, str] = field(default_factory=dict)   # host -> suspended: reasons
    io_failing: list[str] = field(default_factory=list)       # hosts with force-io-failures
    resync: dict[str, float] = field(default_factory=dict)   # target host -> percent done
    primaries: list[str] = field(default_factory=list)
    clean_side: str | None = None   # one-sided: host whose view looks normal; run disconnect/connect there

    def summary(self) -> str:
        return f"{self.name}: {self.state()}"

    def state(self) -> str:
        """The summary without the resource's name, for a text that names it already."""
        text = _SUMMARY[self.shape]
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
        self.findings: list[tuple[str, str, str]] = []
        self.resync: dict[tuple[str, int | None], float | None] = {}
        self.paused: dict[tuple[str, int | None], str] = {}
        self.clean_side: str | None = None
        self.primary_list: list[str] = []
        self.suspended: dict[str, str] = {}
        self.io_failing: list[str] = []

    def add(self, shape: str, text: str, status: str | None = None):
        status = status or _DEFAULT_STATUS.get(shape, FAIL)
        if not any(t == text for _, _, t in self.findings):
            self.findings.append((shape, status, text))

    def host(self, peer: str) -> str:
        """Full host name for a peer name as DRBD prints it (full or short)."""
        return self.by_short.get(short(peer), peer)

    def intended_diskless(self, host: str) -> bool:
        return short(host) in self.diskless_short

    # -----------------------------------------------------------------------------------------

    def report(self) -> DrbdReport:
        if not self.views:
            self.add(UNREADABLE, "no hive to read (expected at least one)")
        self._hosts()
        if self.readable:
            all_outdated = self._all_outdated()
            for h, v in self.readable.items():
                self._local(h, v, all_outdated)
                for c in v.connections:
                    self._connection(h, c)
                self._missing_connections(h, v)
            self._primaries()
            for key, done in self.resync.items():
                target, vol = key
                what = f"{target} volume {vol}" if vol is not None else target
                pct = f"{done:g} % done" if done is not None else "percent done not shown (stalled?)"
                paused = f", paused (resync-suspended:{self.paused[key]}: waits its turn)" \
                    if key in self.paused else ""
                self.add(RESYNC, f"resync in progress: {what} {pct}{paused}")
        status = min((st for _, st, _ in self.findings), key=_STATUS_ORDER.index, default="ok")
        # the shape names the most serious finding of the worst status: a hive that cannot be
        # read does not hide the StandAlone its peers show, nor a warn the fail beside it
        shape = min((sh for sh, st, _ in self.findings if st == status), key=SEVERITY.index,
                    default=HEALTHY)
        return DrbdReport(
            name=self.name, healthy=not self.findings, shape=shape,
            problems=[t for _, _, t in self.findings], status=status,
            findings=list(self.findings), suspended=dict(self.suspended),
            io_failing=list(self.io_failing),
            resync=self._resync_by_host(), primaries=self.primary_list,
            clean_side=self.clean_side if shape == ONE_SIDED else None)

    def _resync_by_host(self) -> dict[str, float]:
        """Target host -> percent done; with several volumes, the least advanced one."""
        out: dict[str, float] = {}
        for (target, _), done in self.resync.items():
            if done is not None:
                out[target] = min(done, out.get(target, done))
        return out

    def _hosts(self):
        for h, v in self.views.items():
            if isinstance(v, str):
                self.add(UNREADABLE, f"{h}: DRBD status unreadable: {v} (expected a status to read)")
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
            self.suspended[h] = v.suspended
            why = "; ".join(_SUSPEND_WHY[r].format(name=self.name) for r in v.suspended.split(",")
                            if r in _SUSPEND_WHY)
            if why:
                self.add(SUSPENDED, f"{h}: I/O suspended (suspended:{v.suspended}; expected no): {why}")
            else:
                self.add(SUSPENDED, f"{h}: I/O suspended (expected not; this drbd-utils' JSON does "
                                    f"not say why, `drbdadm status {self.name}` does)")
        if v.force_io_failures:
            self.io_failing.append(h)
            self.add(IO_FAILING, f"{h}: force-io-failures:yes (expected no): after `drbdadm secondary "
                                 f"--force` every I/O on the device fails until it is closed "
                                 f"(unmounted)")
        multi = len(v.devices) > 1
        syncing_here = self._sync_targets(h, v)
        for d in v.devices:
            obj = f"volume {d.volume} disk" if multi else "disk"
            if d.quorum is False:
                quorum = f"volume {d.volume} quorum" if multi else "quorum"
                self.add(QUORUM_LOST, f"{h}: {quorum} lost (quorum:no; expected quorum:yes)")
            if d.blocked:
                self.add(CONGESTED, f"{h}: {obj.replace(' disk', '')} blocked:{d.blocked} (expected "
                                    f"no; upper: application I/O held back, lower: backing disk "
                                    f"congested): an I/O hang if it persists")
            if d.disk == "UpToDate":
                continue
            if d.disk == "Diskless":
                if d.client or self.intended_diskless(h):
                    continue
                self.add(DISKLESS, f"{h}: {obj} Diskless without client:yes (expected UpToDate; "
                                   f"backing disk failed or detached)")
            elif d.disk == "Outdated" and all_outdated:
                self.add(ALL_OUTDATED, f"{h}: {obj} Outdated (expected UpToDate; no UpToDate copy anywhere)")
            elif d.disk in ("Inconsistent", "Outdated") and d.volume in syncing_here:
                continue    # reported once as the resync (or the Ahead/Behind congestion)
            elif d.disk in _TRANSIENT_DISKS:
                self.add(TRANSITIONAL, f"{h}: {obj} {d.disk} (expected UpToDate; attaching the "
                                       f"backing disk, seconds)")
            elif d.disk in _FAILING_DISKS:
                self.add(DEGRADED, f"{h}: {obj} {d.disk} (expected UpToDate; backing disk I/O "
                                   f"error or detach under way: it becomes Diskless)")
            elif d.disk == "DUnknown":
                self.add(UNREADABLE, f"{h}: {obj} DUnknown (its own disk state unknown)")
            else:
                self.add(DEGRADED, f"{h}: {obj} {d.disk} (expected UpToDate)")

    def _sync_targets(self, h: str, v: ResourceView) -> set[int]:
        """Volumes of h being (about to be) resynced: h says it is the target, or a peer says it
        is the source towards h."""
        vols = {p.volume for c in v.connections for p in c.peer_devices
                if p.replication in ("SyncTarget", "PausedSyncT", "StartingSyncT", "WFSyncUUID",
                                     "Behind")}
        for other, ov in self.readable.items():
            for c in ov.connections:
                if other != h and self.host(c.peer) == h:
                    vols |= {p.volume for p in c.peer_devices
                             if p.replication in ("SyncSource", "PausedSyncS", "StartingSyncS", "Ahead")}
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
        if c.congested:
            self.add(CONGESTED, f"{link}: congested:yes (expected no; the send buffer is full: the "
                                f"replication link is slower than the writes)")
        peer_view = self.readable.get(peer)
        multi = len(c.peer_devices) > 1
        for p in c.peer_devices:
            vol = f"volume {p.volume} " if multi else ""
            seen = f"{link}: {vol}replication:{p.replication}"
            if p.replication in SYNC_STATES:
                target = peer if p.replication in ("SyncSource", "PausedSyncS") else h
                key = (target, p.volume if multi else None)
                if p.replication.startswith("Paused") and "user" in (p.resync_suspended or ""):
                    self.add(DEGRADED, f"{seen} resync-suspended:{p.resync_suspended} (expected the "
                                       f"resync to run; paused by `drbdadm pause-sync`, it waits "
                                       f"for `drbdadm resume-sync {self.name}`)")
                    continue
                if p.replication.startswith("Paused"):
                    self.paused[key] = p.resync_suspended or "not shown"
                if self.resync.get(key) is None:
                    self.resync[key] = p.done
                continue
            if p.replication in _STARTING_SYNC:
                self.add(RESYNC, f"{seen} peer-disk:{p.peer_disk} (resync starting)")
                continue
            if p.replication in _BITMAP_STATES or p.peer_disk == "Consistent":
                self._one_sided(h, peer, p.volume, f"{seen} peer-disk:{p.peer_disk}")
                continue
            if p.replication in _CONGESTION:
                behind = peer if p.replication == "Ahead" else h
                self.add(CONGESTED, f"{seen} (expected Established; congestion: {behind} is not "
                                    f"kept current and resyncs when the link drains)")
                continue
            if p.replication not in _OK_REPLICATION:
                self.add(UNREADABLE, f"{seen} on a Connected link (a transition: state unknown)")
                continue
            # out-of-sync towards an UpToDate peer: blocks that differ with no resync to come
            # (towards an Inconsistent/Outdated one it is what its resync will copy)
            if p.replication == "Established" and p.out_of_sync_kib and p.peer_disk == "UpToDate":
                self.add(DEGRADED, f"{seen} out-of-sync:{p.out_of_sync_kib} KiB (expected 0; blocks "
                                   f"differ and are resynced only by `drbdadm disconnect "
                                   f"{self.name}; drbdadm connect {self.name}` on {h})", WARN)
            if "user" in (p.resync_suspended or ""):
                self.add(DEGRADED, f"{seen} resync-suspended:{p.resync_suspended} (expected no; the "
                                   f"next resync waits for `drbdadm resume-sync {self.name}`)",
                         FAIL if p.peer_disk in ("Inconsistent", "Outdated") else WARN)
            if peer_view is not None:
                continue    # the peer's own view judges its disk
            if p.peer_disk == "UpToDate":
                continue
            if p.peer_disk == "Diskless" and (p.peer_client or self.intended_diskless(peer)):
                continue
            extra = f", resync-suspended:{p.resync_suspended}" if p.resync_suspended else ""
            text = f"{link}: {vol}peer-disk {p.peer_disk} (expected UpToDate{extra})"
            if p.peer_disk in ("Inconsistent", "Outdated") and p.resync_suspended \
                    and "user" not in p.resync_suspended:
                # a resync to it is pending, held back by another one (peer, dependency,
                # max-parallel): it waits its turn ("user" was judged above)
                self.add(RESYNC, f"{link}: {vol}peer-disk {p.peer_disk}, resync pending "
                                 f"(resync-suspended:{p.resync_suspended}: waits its turn)")
            elif p.peer_disk == "DUnknown":
                self.add(UNREADABLE, text)
            elif p.peer_disk in _TRANSIENT_DISKS:
                self.add(TRANSITIONAL, text)
            else:
                self.add(DISKLESS if p.peer_disk == "Diskless" else DEGRADED, text)

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
