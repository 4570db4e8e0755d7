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
            StandAlone                    fail, told apart with the other end and the kernel
                                          logs: split brain when DRBD logged "Split-Brain
                                          detected but unresolved" on this link (with the KiB
                                          each side changed, from its handshake); disconnected
                                          when only one end is StandAlone, the other keeps
                                          trying and neither log records a split brain
                                          (`drbdadm connect <res>:<peer>` on the StandAlone end);
                                          else (both ends StandAlone, a log or a view not read)
                                          not told apart
            Connecting, Unconnected, Disconnecting, Timeout, BrokenPipe, NetworkFailure,
            ProtocolError, TearDown       fail (not connected)
            role (peer)                   ok; counts for multi-primary
            congested:yes                 warn: send buffer full (protocol A goes Ahead)
            tls, ap-in-flight, rs-in-flight, paths  ok (facts)
  peer dev  replication Established       ok
            VerifyS/VerifyT               ok (online verify is maintenance)
            SyncSource/SyncTarget         warn (resync, with done:)
            PausedSyncS/T                 warn if resync-suspended is dependency (the target
                                          takes one source at a time) or max-parallel, or peer
                                          (explained by the other end's own reason); fail if
                                          user, on either end (waits for `drbdadm resume-sync`
                                          there, forever). One finding per target; the summary
                                          quotes a running path's done:, never a paused one's
            StartingSyncS/T, WFSyncUUID   warn (resync starting)
            WFBitMapS/T, peer-disk Consistent  fail (one-sided, runbook 7.7b)
            Ahead/Behind                  warn: congestion mode, resyncs when the link drains
            Off (while Connected)         unknown
            peer-disk UpToDate            ok; Diskless peer-client:yes ok, client:no fail;
                                          Outdated/Inconsistent not syncing fail; Failed/
                                          Detaching fail; Attaching/Negotiating warn;
                                          DUnknown while Connected unknown
            resync-suspended:user on Established  warn: the next resync will not start
            out-of-sync > 0 on Established towards an UpToDate peer  fail: blocks differ
                                          (online verify found them, drbdadm(8): not resynced
                                          automatically; a failover reads them); the per-
                                          connection disconnect/connect resyncs them
            done:                         the resync figure shown (JSON percent-resync-done;
                                          never percent-in-sync); absent: "not shown"
            received, sent, pending, unacked, percent-in-sync, rs-*, ov-*, want, db/dt, eta
                                          ok (statistics)
  A state word outside drbd_strings.c, a JSON cut short, or text without the blank line
  drbdsetup ends each resource with: that host's view is unreadable, unknown, never ok.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import shlex

from hivehealth.parsers.drbd import SYNC_STATES, Connection, KernelLog, ResourceView, SplitBrain

HEALTHY = "healthy"
RESYNC = "resync"
ALL_OUTDATED = "all-outdated"
ONE_SIDED = "one-sided"
SPLIT_BRAIN = "split-brain"
STANDALONE = "standalone"
DISCONNECTED = "disconnected"
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
SEVERITY = (UNREADABLE, IO_FAILING, SUSPENDED, SPLIT_BRAIN, STANDALONE, MULTI_PRIMARY,
            DISCONNECTED, ALL_OUTDATED, QUORUM_LOST, DISKLESS, ONE_SIDED, NOT_UP, CONNECTING,
            DEGRADED, TRANSITIONAL, RESYNC, CONGESTED, HEALTHY)

FAIL, UNKNOWN, WARN = "fail", "unknown", "warn"
_STATUS_ORDER = (FAIL, UNKNOWN, WARN)
_DEFAULT_STATUS = {UNREADABLE: UNKNOWN, RESYNC: WARN, CONGESTED: WARN, TRANSITIONAL: WARN}

_SUMMARY = {
    HEALTHY: "healthy",
    RESYNC: "resync in progress",
    ALL_OUTDATED: "all copies Outdated (runbook 7.7a)",
    ONE_SIDED: "one-sided connection, WFBitMapS/Consistent on one side only (runbook 7.7b)",
    SPLIT_BRAIN: "split brain: two copies diverged and DRBD dropped their connection; resolve it "
                 "by hand (choose the copy whose changes are discarded)",
    STANDALONE: "connection StandAlone: split brain or a manual disconnect, which the states and "
                "kernel logs read cannot tell apart",
    DISCONNECTED: "connection disconnected (StandAlone on one side only, no split brain logged)",
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
    # disconnected: (host, peer as its DRBD names it) for each StandAlone end to connect
    reconnect: list[tuple[str, str]] = field(default_factory=list)
    split_brains: list["SplitBrainLink"] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.name}: {self.state()}"

    def state(self) -> str:
        """The summary without the resource's name, for a text that names it already."""
        text = _SUMMARY[self.shape]
        if self.shape == ONE_SIDED and self.clean_side:
            text += f"; run `drbdadm disconnect {self.name}; drbdadm connect {self.name}` on {self.clean_side}"
        elif self.shape == DISCONNECTED and self.reconnect:
            text += "; " + "; ".join(f"run `drbdadm connect {shlex.quote(f'{self.name}:{peer}')}` on {h}"
                                     for h, peer in self.reconnect)
        elif self.shape == RESYNC and self.resync:
            text += ": " + ", ".join(f"{h} {p:g} % done" for h, p in sorted(self.resync.items()))
        elif self.shape == HEALTHY and self.primaries:
            text += f" (Primary: {', '.join(self.primaries)})"
        return text


@dataclass
class SplitBrainLink:
    """Two hosts whose link DRBD dropped by split brain, with what each host's state and DRBD's
    handshake (its kernel log) tell about whose copy has changes the other lacks."""
    a: str
    b: str
    peer_name: dict[str, str]               # host -> the other end as this host's DRBD names it
    logged: SplitBrain                      # as one end logged it
    logged_by: str
    changed_kib: dict[str, int] = field(default_factory=dict)   # host -> KiB changed there only
    role: dict[str, str] = field(default_factory=dict)
    disk: dict[str, str] = field(default_factory=dict)

    def other(self, host: str) -> str:
        return self.b if host == self.a else self.a


def short(host: str) -> str:
    return host.split(".", 1)[0]


def analyze(name: str, views: dict[str, ResourceView | None | str], expected: list[str],
            diskless: set[str] = frozenset(),
            kernel_logs: dict[str, KernelLog | str] | None = None) -> DrbdReport:
    """Judge resource `name` from each host's view (None: not up there; str: unreadable, why).
    kernel_logs: host -> its DRBD kernel log lines, or why they could not be read (a host
    missing from it: not gathered); they tell a split brain from a manual disconnect."""
    return _Analysis(name, views, expected, diskless, kernel_logs or {}).report()


class _Analysis:
    def __init__(self, name, views, expected, diskless, kernel_logs):
        self.name = name
        self.kernel_logs = dict(kernel_logs)
        self.standalone: list[tuple[str, Connection]] = []
        self.reconnect: list[tuple[str, str]] = []
        self.split_brains: list[SplitBrainLink] = []
        # (target, volume or None) -> [(source, viewer, PeerDevice)] of every resync path seen
        self.paths: dict[tuple[str, int | None], list] = {}
        self.terse: dict[str, str] = {}     # a resync finding as said under a resync summary
        self.views = dict(views)
        for h in expected:  # a hive nobody asked is as good as unreadable
            self.views.setdefault(h, "no DRBD status was collected")
        self.expected = list(expected)
        self.diskless_short = {short(h) for h in diskless}
        self.by_short = {short(h): h for h in self.views}
        self.readable = {h: v for h, v in self.views.items() if isinstance(v, ResourceView)}
        self.findings: list[tuple[str, str, str]] = []
        self.resync: dict[tuple[str, int | None], float | None] = {}
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
            self._standalone_links()
            self._resyncs()
        status = min((st for _, st, _ in self.findings), key=_STATUS_ORDER.index, default="ok")
        # the shape names the most serious finding of the worst status: a hive that cannot be
        # read does not hide the StandAlone its peers show, nor a warn the fail beside it
        shape = min((sh for sh, st, _ in self.findings if st == status), key=SEVERITY.index,
                    default=HEALTHY)
        if shape == RESYNC:
            self.findings = [(sh, st, self.terse.get(t, t)) for sh, st, t in self.findings]
        return DrbdReport(
            name=self.name, healthy=not self.findings, shape=shape,
            problems=[t for _, _, t in self.findings], status=status,
            findings=list(self.findings), suspended=dict(self.suspended),
            io_failing=list(self.io_failing),
            resync=self._resync_by_host(), primaries=self.primary_list,
            clean_side=self.clean_side if shape == ONE_SIDED else None,
            reconnect=list(self.reconnect), split_brains=list(self.split_brains))

    def _resync_by_host(self) -> dict[str, float]:
        """Target host -> percent done of a running resync; with several volumes, the least
        advanced one."""
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
                self.add(NOT_UP, f"{h}: resource {self.name} not up (DRBD lists no such resource "
                                 f"there; expected up, see drbd-resource@{self.name}.service)")

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
            self.standalone.append((h, c))     # judged with its other end (_standalone_links)
            return
        if c.state != "Connected":
            other_end = self._link_state(peer, h)
            why = f"; {peer} disconnected this link: StandAlone there" if other_end == "StandAlone" else ""
            self.add(CONNECTING, f"{link}: connection {c.state} (expected Connected{why})")
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
                source_side = p.replication in ("SyncSource", "PausedSyncS")
                target, source = (peer, h) if source_side else (h, peer)
                self.paths.setdefault((target, p.volume if multi else None), []).append((source, h, p))
                if p.replication.startswith("Paused") and "user" in (p.resync_suspended or ""):
                    self.add(DEGRADED, f"{seen} resync-suspended:{p.resync_suspended} (expected the "
                                       f"resync to run; paused by `drbdadm pause-sync` on {h}, it "
                                       f"waits for `drbdadm resume-sync {self.name}` there)")
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
                conn = shlex.quote(f"{self.name}:{c.peer}")
                self.add(DEGRADED, f"{seen} out-of-sync:{p.out_of_sync_kib} KiB (expected 0): the "
                                   f"copies differ in these blocks and no resync is running (online "
                                   f"verify marks them, drbdadm(8): they are not resynchronized "
                                   f"automatically), so a failover would read wrong data; `drbdadm "
                                   f"disconnect {conn}; drbdadm connect {conn}` on {h} resyncs them")
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
                # a resync to it is pending, held back (peer, dependency, max-parallel; "user"
                # was judged above)
                self.add(RESYNC, f"{link}: {vol}peer-disk {p.peer_disk}, resync pending "
                                 f"(resync-suspended:{p.resync_suspended}: "
                                 f"{self._why_suspended(p.resync_suspended, h, peer, None)})")
            elif p.peer_disk == "DUnknown":
                self.add(UNREADABLE, text)
            elif p.peer_disk in _TRANSIENT_DISKS:
                self.add(TRANSITIONAL, text)
            else:
                self.add(DISKLESS if p.peer_disk == "Diskless" else DEGRADED, text)

    # --- connections judged from both ends ---------------------------------------------------

    def _link_state(self, h: str, peer: str) -> str | None:
        """The connection state h's own view shows towards peer (None: not seen)."""
        v = self.readable.get(h)
        return next((c.state for c in v.connections if self.host(c.peer) == peer), None) if v else None

    def _peer_name(self, h: str, peer: str) -> str:
        """peer as h's DRBD names it (the name `drbdadm <cmd> res:peer` takes on h)."""
        v = self.readable.get(h)
        return next((c.peer for c in v.connections if self.host(c.peer) == peer), peer) if v else peer

    def _log(self, h: str) -> KernelLog | str:
        return self.kernel_logs.get(h, "not gathered")

    def _standalone_links(self):
        """Each StandAlone link, told apart by DRBD's own record: a split brain is logged by the
        handshake ("Split-Brain detected but unresolved, dropping connection!") and drops the
        link on BOTH ends; a link StandAlone on one end only, while the other end keeps trying
        (Connecting), was disconnected there (`drbdadm disconnect`), and connecting it from that
        end is what DRBD needs: its handshake still refuses (drops to StandAlone) a copy that
        diverged, as hive-builder's resources keep DRBD's after-split-brain policy disconnect."""
        done = set()
        for h, c in self.standalone:
            peer = self.host(c.peer)
            pair = frozenset((h, peer))
            if pair in done:
                continue
            done.add(pair)
            ends = [e for e in (h, peer) if self._link_state(e, self.host_other(e, pair)) == "StandAlone"]
            logged = self._logged_split_brain(h, peer)
            if logged:
                self._split_brain(h, peer, *logged)
                continue
            where = " and ".join(f"{e} -> {self.host_other(e, pair)}" for e in ends)
            unread = [f"{e} ({log})" for e in (h, peer) if isinstance(log := self._log(e), str)]
            if len(ends) == 2:
                self.add(STANDALONE, f"{where}: connection StandAlone on both ends (expected "
                                     f"Connected): a split brain drops both ends, so does "
                                     f"`drbdadm disconnect` run on both" + (
                                         f"; the kernel log that tells them apart was not read on "
                                         f"{', '.join(unread)}" if unread
                                         else "; neither kernel log records a split brain"))
            elif peer not in self.readable:
                self.add(STANDALONE, f"{where}: connection StandAlone (expected Connected): split "
                                     f"brain or a manual disconnect; the other end's own view "
                                     f"cannot be read")
            elif unread:
                self.add(STANDALONE, f"{where}: connection StandAlone (expected Connected): split "
                                     f"brain or a manual disconnect; the kernel log that tells "
                                     f"them apart was not read on {', '.join(unread)}")
            else:
                end = ends[0]
                other = self.host_other(end, pair)
                name = self._peer_name(end, other)
                self.reconnect.append((end, name))
                self.add(DISCONNECTED, f"{end} -> {other}: connection StandAlone on {end} only "
                                       f"(expected Connected; {other} shows "
                                       f"{self._link_state(other, end)}, and neither kernel log "
                                       f"records a split brain): disconnected on {end}; `drbdadm "
                                       f"connect {shlex.quote(f'{self.name}:{name}')}` on {end} "
                                       f"connects it, discarding nothing")

    @staticmethod
    def host_other(h: str, pair: frozenset) -> str:
        return next((x for x in pair if x != h), h)

    def _logged_split_brain(self, h: str, peer: str) -> tuple[str, SplitBrain] | None:
        for viewer, other in ((h, peer), (peer, h)):
            log = self._log(viewer)
            if isinstance(log, KernelLog):
                sb = log.split_brain(self.name, self._peer_name(viewer, other))
                if sb:
                    return viewer, sb
        return None

    def _split_brain(self, h: str, peer: str, viewer: str, sb: SplitBrain):
        other = peer if viewer == h else h
        link = SplitBrainLink(a=h, b=peer, peer_name={h: self._peer_name(h, peer), peer: self._peer_name(peer, h)},
                              logged=sb, logged_by=viewer)
        if sb.own_kib is not None:
            link.changed_kib[viewer] = sb.own_kib
        if sb.peer_kib is not None:
            link.changed_kib[other] = sb.peer_kib
        for x in (h, peer):
            v = self.readable.get(x)
            if v is not None:
                link.role[x] = v.role
                link.disk[x] = ",".join(d.disk for d in v.devices) or "?"
        self.split_brains.append(link)
        changes = "; ".join(f"{x}: {link.changed_kib[x]} KiB changed that the other lacks"
                            for x in (h, peer) if x in link.changed_kib)
        ends = " and ".join(f"{x} ({self._link_state(x, link.other(x)) or 'its view cannot be read'})"
                            for x in (h, peer))
        self.add(SPLIT_BRAIN, f"{h} <-> {peer}: split brain: DRBD logged \"Split-Brain detected but "
                              f"unresolved, dropping connection!\" on {viewer} at {sb.when}; the link "
                              f"is {ends}" + (f"; its handshake counted {changes}" if changes else ""))

    # --- resyncs -------------------------------------------------------------------------------

    def _why_suspended(self, reasons: str, viewer: str, other: str, target: str | None) -> str:
        """What resync-suspended means where `viewer` shows it for its link to `other`: user is
        the viewer's own pause; peer is the other end's (its own view says why); dependency
        means the target resyncs from one source at a time, or waits for resync-after."""
        out = []
        for r in reasons.split(","):
            if r == "user":
                out.append(f"paused by `drbdadm pause-sync` on {viewer}")
            elif r == "peer":
                theirs = self._suspended_seen_by(other, viewer)
                if theirs and "user" in theirs:
                    out.append(f"{other} paused it (`drbdadm pause-sync` there: resync-suspended:user)")
                elif theirs and "dependency" in theirs:
                    out.append(f"{other} holds it back until its resync from another source "
                               f"ends, resync-suspended:dependency there")
                elif theirs:
                    out.append(f"{other} holds it back (resync-suspended:{theirs} there)")
                else:
                    out.append(f"held back by {other}: a `drbdadm pause-sync` there or a resync it "
                               f"waits for")
            elif r == "dependency":
                out.append(f"{target or viewer} takes one resync at a time: this one waits for "
                           f"the running one (or for the resource named in resync-after)")
            else:
                out.append("waits: resyncs are limited in number (max-parallel)")
        return "; ".join(out)

    def _suspended_seen_by(self, h: str, peer: str) -> str | None:
        v = self.readable.get(h)
        if v is None:
            return None
        return next((p.resync_suspended for c in v.connections if self.host(c.peer) == peer
                     for p in c.peer_devices if p.resync_suspended), None)

    def _resyncs(self):
        """One finding per resync target: the sources it resyncs from now, the paused ones and
        why. The figure the summary quotes is a running path's (the least advanced view of
        it), never a paused path's."""
        for (target, vol), paths in self.paths.items():
            what = f"{target} volume {vol}" if vol is not None else target
            running = [(src, p) for src, _, p in paths if not p.replication.startswith("Paused")]
            figures = [p.done for _, p in running if p.done is not None]
            if running:
                self.resync[(target, vol)] = min(figures) if figures else None
            paused = {}
            for src, viewer, p in paths:
                if p.replication.startswith("Paused") and not any(s == src for s, _ in running):
                    other = target if viewer == src else src
                    paused.setdefault(src, (p.resync_suspended or "not shown", viewer, other))
            user_paused = [s for s, (r, v, o) in paused.items()
                           if "user" in r or "user" in (self._suspended_seen_by(o, v) or "")]
            held = {s: x for s, x in paused.items() if s not in user_paused}
            head, terse = [], []
            if running:
                sources = ", ".join(sorted({s for s, _ in running}))
                pct = f", {min(figures):g} % done" if figures else (
                    ", percent done not shown (drbdsetup shows none at a resync's very start and "
                    "end; if it stays so, the resync is stalled)")
                head.append(f"{what} resyncs from {sources}{pct}")
                # where the summary quotes the figure, the finding does not repeat it
                terse.append(f"{what} resyncs from {sources}"
                             + (pct if vol is not None or not figures else ""))
            for src, (reasons, viewer, other) in sorted(held.items()):
                why = self._why_suspended(reasons, viewer, other, target)
                part = (f"{'from' if running else what + ': resync from'} {src} paused "
                        f"(resync-suspended:{reasons}: {why})")
                head.append(part)
                terse.append(part)
            if head:
                self.add(RESYNC, "; ".join(head))
                self.terse["; ".join(head)] = "; ".join(terse)

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
