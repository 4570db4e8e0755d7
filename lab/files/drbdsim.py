#!/usr/bin/python3
"""Stand-in for DRBD 9 `drbdadm` / `drbdsetup` in the hive lab (no kernel module here).

Installed on every hive as /usr/sbin/drbdadm and /usr/sbin/drbdsetup (symlinks to this file,
which dispatches on argv[0]).  All hives share ONE state file (a host directory bind-mounted
at /var/lib/drbd-sim), guarded by flock, so a state change made on one hive is seen by its
peers exactly as DRBD's replication link would report it.

It answers as the DRBD 9.2.18 kernel module with drbd-utils 9.22 did on three nodes
(tests/data/real-drbd-9.2, compared by tests/lab_infra/test_drbdsim_conformance.py):
  - output: `status` text (drbd-utils' wrap_printf: 80 columns, continuation lines indented),
    `--verbose --statistics`, `--json` (the keys 9.22 prints: no "open", "tls", "paths"),
    `events2 --now --statistics`; error texts and exit codes of drbdadm and drbdsetup;
  - data: each node's copy has a generation (DRBD's current UUID) and a history; a Primary that
    loses a peer starts a new generation; each node keeps a bitmap per peer (KiB written that the
    peer has not got), fed by the real I/O counters of the backing device, so a resync covers
    what was written while the peer was away;
  - a handshake when a connection comes up: same generation -> nothing (an Outdated copy becomes
    UpToDate again); one generation in the other's history -> resync from the newer, sized by
    its bitmap; neither -> split brain (both StandAlone, unless one side said
    --discard-my-data; a Secondary with an Outdated copy stays connected without resync, as the
    real module did); every copy the same but a Primary crashed -> rule both-off, a full resync
    from the last Primary;
  - a graceful disconnect from a Primary leaves the other side Outdated; `primary --force`
    makes the connected Outdated peers of the same generation UpToDate at once.
Model per resource: local[node] (up, disk, manual primary, open = mounted on that node,
hb = heartbeat of drbd-sim-agent, generation, I/O counters), want[a>b] (a's connection to b is
not StandAlone), oos[a>b] (a's bitmap for b, KiB), syncs (running resyncs), stuck (a one-sided
replication state a fault sets), split_brain (pairs whose last handshake found split brain and
left StandAlone), race (the lab fault that makes the reconnect race of the runbook's 7.7(a)
sequence split-brain, as it once did on the real module).
"""
import fcntl
import json
import os
import re
import stat
import sys
import time

STATE = os.environ.get("DRBD_SIM_STATE", "/var/lib/drbd-sim/state.json")
CONF_DIR = os.environ.get("DRBD_SIM_CONF", "/etc/drbd.d")
DEV_DIR = os.environ.get("DRBD_SIM_DEV", "/dev")
SYSFS = os.environ.get("DRBD_SIM_SYSFS", "/sys")
HB_TIMEOUT = float(os.environ.get("DRBD_SIM_HB_TIMEOUT", "6"))
COLUMNS = 80            # wrap_printf's width when stdout is not a terminal
SYNC_RATE_KIB = 32768   # the real module resynced at about 32 MB/s on the QEMU guests
GEN_HISTORY = 4         # DRBD keeps a few history UUIDs per device


def clock():
    """Now; DRBD_SIM_NOW pins it (tests drive the stand-in through time without sleeping)."""
    pinned = os.environ.get("DRBD_SIM_NOW")
    return float(pinned) if pinned else time.time()


def node_name():
    n = os.environ.get("DRBD_SIM_NODE")
    if n:
        return n
    try:
        with open("/etc/drbd-sim/node") as f:
            return f.read().strip()
    except OSError:
        return os.uname().nodename


# ---------------------------------------------------------------- state handling
class Locked:
    def __init__(self, path=None, write=True):
        self.path = path or STATE
        self.write = write

    def __enter__(self):
        self.lockf = open(self.path + ".lock", "a+")
        fcntl.flock(self.lockf, fcntl.LOCK_EX)
        try:
            with open(self.path) as f:
                self.state = json.load(f)
        except (OSError, ValueError):
            self.state = {"resources": {}}
        for res in self.state.get("resources", {}).values():
            complete(res)
        return self.state

    def __exit__(self, et, ev, tb):
        try:
            if et is None and self.write:
                tmp = self.path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(self.state, f, indent=1, sort_keys=True)
                os.rename(tmp, self.path)
        finally:
            fcntl.flock(self.lockf, fcntl.LOCK_UN)
            self.lockf.close()
        return False


def new_local():
    return {"up": True, "disk": "UpToDate", "primary": False, "open": False, "hb": None,
            "gen": 1, "hist": [], "read": 0, "written": 0, "al_writes": 0, "bm_writes": 0,
            "io": None, "open_since": None, "crashed_primary": False, "was_primary": False,
            "both_off_peers": []}


def new_resource(name, minor, nodes, addresses=None, size_kib=0, dev_major=None, dev_minor=None,
                 port=None):
    nodes = sorted(nodes)
    return complete({
        "name": name, "minor": minor, "nodes": nodes,
        "addresses": addresses or {}, "port": port or 7000 + minor, "size_kib": size_kib,
        "dev": [dev_major, dev_minor] if dev_major is not None else None,
        "local": {n: new_local() for n in nodes},
        "want": {f"{a}>{b}": True for a in nodes for b in nodes if a != b},
    })


def complete(res):
    """Fill in what an older state file lacks (the lab's state survives a stand-in update)."""
    for k, v in (("stuck", {}), ("split_brain", {}), ("discard", {}), ("syncs", []), ("last", {}),
                 ("oos", {}), ("sent", {}), ("received", {}), ("pdisk_seen", {}),
                 ("pause_user", {}), ("race", {}), ("next_gen", 2), ("sync_seconds", 4.0),
                 ("sync_rate_kib", SYNC_RATE_KIB)):
        res.setdefault(k, v)
    for loc in res["local"].values():
        for k, v in new_local().items():
            loc.setdefault(k, v)
    return res


def alive(res, n, now):
    loc = res["local"][n]
    if not loc["up"]:
        return False
    return present(res, n, now)


def present(res, n, now):
    """The node's machine answers at all (its agent's heartbeat is fresh)."""
    hb = res["local"][n].get("hb")
    return hb is None or now - hb < HB_TIMEOUT


def role(res, n):
    loc = res["local"][n]
    if not loc["up"]:
        return "Secondary"
    return "Primary" if (loc.get("open") or loc.get("primary")) else "Secondary"


def pair_key(a, b):
    return "|".join(sorted([a, b]))


def connected(res, a, b, now):
    return (alive(res, a, now) and alive(res, b, now)
            and res["want"].get(f"{a}>{b}", True) and res["want"].get(f"{b}>{a}", True))


def peers_of(res, n):
    return [p for p in res["nodes"] if p != n]


def sync_of(res, a, b):
    for s in res["syncs"]:
        if {s["source"], s["target"]} == {a, b}:
            return s
    return None


def has_quorum(res, n, now):
    """quorum majority: this node and the peers it is connected to are more than half."""
    votes = 1 + sum(1 for p in peers_of(res, n) if connected(res, n, p, now))
    return votes * 2 > len(res["nodes"])


def add(res, table, key, kib):
    res[table][key] = res[table].get(key, 0) + kib


# ---------------------------------------------------------------- generations (DRBD's UUIDs)
def rotate(res, n, now):
    """n starts a new data generation; the peers connected to it and in sync with it share it."""
    loc = res["local"][n]
    old = loc["gen"]
    new = res["next_gen"]
    res["next_gen"] += 1
    loc["hist"] = ([old] + loc["hist"])[:GEN_HISTORY]
    loc["gen"] = new
    for p in peers_of(res, n):
        lp = res["local"][p]
        if connected(res, n, p, now) and lp["gen"] == old and lp["disk"] == "UpToDate" \
                and not any(s["target"] == p for s in res["syncs"]):
            lp["gen"], lp["hist"] = new, list(loc["hist"])


def adopt(res, target, source):
    ls, lt = res["local"][source], res["local"][target]
    lt["gen"], lt["hist"] = ls["gen"], list(ls["hist"])


def start_sync(res, src, dst, total_kib, now):
    res["syncs"] = [s for s in res["syncs"] if not (s["source"] == src and s["target"] == dst)]
    total = min(int(total_kib), res.get("size_kib", 0)) if res.get("size_kib") else int(total_kib)
    rate = max(1.0, float(res.get("sync_rate_kib", SYNC_RATE_KIB)))
    duration = max(total / rate, float(res.get("sync_seconds", 0.0)), 0.05)
    res["local"][dst]["disk"] = "Inconsistent"
    res["syncs"].append({"source": src, "target": dst, "start": now, "last": now, "elapsed": 0.0,
                         "paused": 0.0, "duration": duration, "total_kib": total, "left": total,
                         "dependency": False})


def handshake(res, a, b, now):
    """What DRBD's sync handshake decides when the connection a<->b comes up."""
    key = pair_key(a, b)
    res["stuck"].pop(f"{a}>{b}", None)
    res["stuck"].pop(f"{b}>{a}", None)
    la, lb = res["local"][a], res["local"][b]
    forced_split = res["race"].get("split") == key
    if forced_split:
        res["race"].pop("split")
    elif split_free(res, a, b, now):
        res["split_brain"].pop(key, None)
        return
    # split brain: neither generation descends from the other
    victim = a if res["discard"].get(a) else b if res["discard"].get(b) else None
    if victim and not forced_split:
        survivor = b if victim == a else a
        unstable = res["local"][victim]["disk"] != "UpToDate"
        if role(res, survivor) == "Primary" or not unstable:
            # "Split-Brain detected, manually solved": the victim takes the survivor's changes
            # and gives up its own (both bitmaps)
            res["split_brain"].pop(key, None)
            res["discard"].pop(victim, None)
            total = res["oos"].get(f"{survivor}>{victim}", 0) + res["oos"].get(f"{victim}>{survivor}", 0)
            start_sync(res, survivor, victim, total, now)
            return
    if not forced_split and "Primary" not in (role(res, a), role(res, b)) and \
            "UpToDate" in (la["disk"], lb["disk"]) and {la["disk"], lb["disk"]} != {"UpToDate"}:
        # "Ignore Split-Brain, for now, at least one side unstable": connected, no resync
        return
    # "Split-Brain detected but unresolved, dropping connection!"; what each side shows of the
    # other's disk afterwards, as the real module did: an UpToDate peer as Outdated, after the
    # reconnect race the side that left first as Outdated and the other as DUnknown
    if forced_split:
        first, second = res["race"]["reconnected"][:2]
        res["pdisk_seen"][f"{first}>{second}"] = "Outdated"
        res["pdisk_seen"][f"{second}>{first}"] = "DUnknown"
    else:
        for x, y in ((a, b), (b, a)):
            disk = res["local"][y]["disk"]
            res["pdisk_seen"][f"{x}>{y}"] = "Outdated" if disk == "UpToDate" else disk
    res["split_brain"][key] = True
    res["want"][f"{a}>{b}"] = False
    res["want"][f"{b}>{a}"] = False


def split_free(res, a, b, now):
    """The handshake's outcome when the generations are related (True), else False."""
    la, lb = res["local"][a], res["local"][b]
    if la["gen"] == lb["gen"]:
        crashed = [n for n in (a, b) if res["local"][n]["crashed_primary"]]
        if len(crashed) == 1 and res["local"][crashed[0]]["disk"] == "UpToDate":
            # rule both-off: a copy that crashed as Primary may hold writes its peers lack
            src = crashed[0]
            dst = b if src == a else a
            peers = res["local"][src]["both_off_peers"]
            peers.append(dst)
            if set(peers) >= set(peers_of(res, src)):
                res["local"][src]["crashed_primary"] = False
                res["local"][src]["both_off_peers"] = []
            start_sync(res, src, dst, res.get("size_kib", 0), now)
            return True
        for src, dst in ((a, b), (b, a)):
            ls, ld = res["local"][src], res["local"][dst]
            if ls["disk"] != "UpToDate":
                continue
            if ld["disk"] == "Inconsistent":
                start_sync(res, src, dst, res.get("size_kib", 0), now)
                return True
            if ld["disk"] in ("Outdated", "Consistent"):
                bits = res["oos"].get(f"{src}>{dst}", 0)
                if bits:
                    start_sync(res, src, dst, bits, now)
                else:
                    ld["disk"] = "UpToDate"
                return True
        return True
    for src, dst in ((a, b), (b, a)):
        if res["local"][dst]["gen"] in res["local"][src]["hist"]:
            if res["local"][src]["disk"] == "UpToDate":
                start_sync(res, src, dst, res["oos"].get(f"{src}>{dst}", 0), now)
            return True
    return False


# ---------------------------------------------------------------- time passing
def active_syncs(res):
    """The resyncs that copy data now: not paused by a user, nor waiting behind another source."""
    out = []
    for s in res["syncs"]:
        if res["pause_user"].get(f"{s['source']}>{s['target']}") or \
                res["pause_user"].get(f"{s['target']}>{s['source']}") or s["dependency"]:
            continue
        out.append(s)
    return out


def _tail(s):
    """The last moments of a resync: nothing left to copy, the state change not yet made
    (drbdsetup then prints SyncSource without done:)."""
    return min(0.5, s["duration"] / 10.0)


def advance_syncs(res, now):
    running = active_syncs(res)
    for s in res["syncs"]:
        dt = max(0.0, now - s["last"])
        s["last"] = now
        if s not in running:
            s["paused"] += dt
            continue
        before = s["left"]
        s["elapsed"] += dt
        copy_time = max(s["duration"] - _tail(s), 1e-6)
        s["left"] = int(max(0.0, s["total_kib"] * (1.0 - s["elapsed"] / copy_time)))
        moved = before - s["left"]
        if moved:
            src, dst = s["source"], s["target"]
            add(res, "sent", f"{src}>{dst}", moved)
            add(res, "received", f"{dst}>{src}", moved)
            res["local"][src]["read"] += moved
            res["local"][dst]["written"] += moved
            for other in res["syncs"]:     # the target tells every source what it has now
                if other is not s and other["target"] == dst:
                    other["left"] = max(0, other["left"] - moved)
    done_targets = {s["target"] for s in running if s["elapsed"] >= s["duration"]}
    for t in done_targets:
        finished = [s for s in res["syncs"] if s["target"] == t]
        src = next(s["source"] for s in running if s["target"] == t and s["elapsed"] >= s["duration"])
        res["syncs"] = [s for s in res["syncs"] if s["target"] != t]
        res["local"][t]["disk"] = "UpToDate"
        res["local"][t]["crashed_primary"] = False    # it holds the source's data now
        adopt(res, t, src)
        for s in finished:
            res["oos"][f"{s['source']}>{t}"] = 0
            res["oos"][f"{t}>{s['source']}"] = 0
        for p in peers_of(res, t):
            # a peer of the same generation knows t has everything now; t's own bitmap for
            # that peer stays as it was after a partial resync (as on the real module: the
            # split-brain victim kept its writes' bits for the third node), not after a full one
            if connected(res, t, p, now) and res["local"][p]["gen"] == res["local"][t]["gen"] \
                    and res["local"][p]["disk"] == "UpToDate":
                res["oos"][f"{p}>{t}"] = 0
                if any(s["total_kib"] >= res.get("size_kib", 0) for s in finished):
                    res["oos"][f"{t}>{p}"] = 0


def settle(state, now=None):
    now = clock() if now is None else now
    for res in state.get("resources", {}).values():
        complete(res)
        nodes = res["nodes"]
        # a resync stops when its connection goes (the target stays Inconsistent)
        res["syncs"] = [s for s in res["syncs"] if connected(res, s["source"], s["target"], now)]
        advance_syncs(res, now)
        for n in nodes:
            loc = res["local"][n]
            if loc["up"] and present(res, n, now):
                loc["was_primary"] = role(res, n) == "Primary"
            elif loc["up"] and loc["was_primary"]:
                loc["crashed_primary"] = True      # gone without demoting: crashed as Primary
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                key = pair_key(a, b)
                c = connected(res, a, b, now)
                if c and not res["last"].get(key):
                    handshake(res, a, b, now)
                    c = connected(res, a, b, now)
                elif not c and res["last"].get(key):
                    lost(res, a, b, now)
                res["last"][key] = c
    return state


def lost(res, a, b, now):
    """The connection a<->b went down: a Primary on either side starts a new generation (its
    writes from now on are what the other lacks) and remembers the peer's last disk state."""
    for n, p in ((a, b), (b, a)):
        if alive(res, n, now) and role(res, n) == "Primary":
            rotate(res, n, now)
        res["pdisk_seen"][f"{n}>{p}"] = res["local"][p]["disk"] if present(res, p, now) and \
            res["local"][p]["up"] else "DUnknown"


def record_writes(res, writer, kib, now, reads=0, requests=1):
    """writer wrote kib KiB to its device: replicated to the connected peers, set in the
    bitmaps for the others (by the writer and by every peer that received the data)."""
    loc = res["local"][writer]
    size = res.get("size_kib", 0) or float("inf")
    loc["written"] += kib
    loc["read"] += reads
    if not kib:
        return
    loc["al_writes"] += requests
    receivers = [writer]
    for p in peers_of(res, writer):
        if connected(res, writer, p, now):
            receivers.append(p)
            add(res, "sent", f"{writer}>{p}", kib)
            add(res, "received", f"{p}>{writer}", kib)
            res["local"][p]["written"] += kib
    for r in receivers:
        for q in peers_of(res, r):
            if q not in receivers:
                res["oos"][f"{r}>{q}"] = int(min(size, res["oos"].get(f"{r}>{q}", 0) + kib))
                res["local"][r]["bm_writes"] += 1


# ---------------------------------------------------------------- local node facts
def mounted_devs():
    devs = set()
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                devs.add(parts[2])
                sep = parts.index("-")
                devs.add(parts[sep + 2])
    except OSError:
        pass
    return devs


def io_counters(res):
    """(KiB read, KiB written, write requests) of the backing block device, from sysfs."""
    dev = res.get("dev")
    if not dev:
        return None
    try:
        with open(os.path.join(SYSFS, "dev", "block", f"{dev[0]}:{dev[1]}", "stat")) as f:
            fields = [int(x) for x in f.read().split()]
        return fields[2] // 2, fields[6] // 2, fields[4]
    except (OSError, ValueError, IndexError):
        return None


def refresh_local(state, me, now=None, heartbeat=False):
    now = clock() if now is None else now
    devs = None
    for res in state.get("resources", {}).values():
        if me not in res["local"]:
            continue
        loc = res["local"][me]
        if not os.environ.get("DRBD_SIM_NO_MOUNTCHECK"):
            if devs is None:
                devs = mounted_devs()
            dev = res.get("dev")
            is_open = bool(dev) and f"{dev[0]}:{dev[1]}" in devs
            is_open = is_open or f"/dev/drbd{res['minor']}" in devs
            loc["open"] = bool(is_open and loc["up"])
        if loc["open"] and loc["open_since"] is None:
            loc["open_since"] = now
            if not all(connected(res, me, p, now) for p in peers_of(res, me)):
                rotate(res, me, now)      # promoted with a peer missing: a new generation
        elif not loc["open"]:
            loc["open_since"] = None
        counters = io_counters(res)
        if counters is not None:
            if loc["io"] is not None and loc["open"] and loc["up"]:
                dr, dw, dq = (max(0, x - y) for x, y in zip(counters, loc["io"]))
                record_writes(res, me, dw, now, reads=dr, requests=dq)
            loc["io"] = list(counters)
        if heartbeat:
            loc["hb"] = now


def configured_resources():
    names = []
    try:
        files = sorted(os.listdir(CONF_DIR))
    except OSError:
        return names
    for f in files:
        if not f.endswith(".res"):
            continue
        try:
            text = open(os.path.join(CONF_DIR, f)).read()
        except OSError:
            continue
        names += re.findall(r"^\s*resource\s+([^\s{]+)", text, re.M)
    return names


def ensure_device(res):
    dev = res.get("dev")
    if not dev or os.environ.get("DRBD_SIM_NO_MKNOD"):
        return
    path = os.path.join(DEV_DIR, f"drbd{res['minor']}")
    want = os.makedev(dev[0], dev[1])
    try:
        st = os.stat(path)
        if stat.S_ISBLK(st.st_mode) and st.st_rdev == want:
            return
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.mknod(path, 0o660 | stat.S_IFBLK, want)
    try:
        import grp
        os.chown(path, 0, grp.getgrnam("disk").gr_gid)
    except (KeyError, OSError):
        pass


def remove_device(res):
    if os.environ.get("DRBD_SIM_NO_MKNOD"):
        return
    try:
        os.unlink(os.path.join(DEV_DIR, f"drbd{res['minor']}"))
    except OSError:
        pass


# ---------------------------------------------------------------- views
def local_view(res, me, now):
    """Everything `drbdsetup status` shows on node `me` (None if the resource is down here)."""
    loc = res["local"][me]
    if not loc["up"]:
        return None
    size = res.get("size_kib", 0)
    conns = []
    n_conn = 0
    addrs = res.get("addresses") or {}
    for p in peers_of(res, me):
        want = res["want"].get(f"{me}>{p}", True)
        c = connected(res, me, p, now)
        e = {"name": p, "peer_node_id": res["nodes"].index(p), "congested": False,
             "ap_in_flight": 0, "rs_in_flight": 0, "repl": "Off", "pdisk": "DUnknown",
             "susp": [], "rs": None, "oos": res["oos"].get(f"{me}>{p}", 0),
             "sent": res["sent"].get(f"{me}>{p}", 0), "received": res["received"].get(f"{me}>{p}", 0),
             "pending": 0, "unacked": 0,
             "path": (addrs.get(me), addrs.get(p), res.get("port", 7000 + res["minor"]))}
        seen = res["pdisk_seen"].get(f"{me}>{p}", "DUnknown")
        if not want:
            e.update(cstate="StandAlone", peer_role="Unknown", pdisk=seen)
        elif not c:
            e.update(cstate="Connecting", peer_role="Unknown", pdisk=seen)
        else:
            n_conn += 1
            e.update(cstate="Connected", peer_role=role(res, p), repl="Established",
                     pdisk=res["local"][p]["disk"])
            s = sync_of(res, me, p)
            if s:
                _sync_fields(res, e, s, me)
            st = res["stuck"].get(f"{me}>{p}")
            if st:
                e["rs"] = None
                e["repl"] = st.get("repl", "WFBitMapS")
                e["pdisk"] = st.get("pdisk", "Consistent")
        conns.append(e)
    quorum = (1 + n_conn) * 2 > len(res["nodes"])
    v = {"name": res["name"], "node_id": res["nodes"].index(me), "role": role(res, me),
         "minor": res["minor"], "disk": loc["disk"], "quorum": quorum, "size": size,
         "backing_dev": f"/dev/drbdvg/{res['name']}", "read": loc["read"],
         "written": loc["written"], "al_writes": loc["al_writes"], "bm_writes": loc["bm_writes"],
         "connections": conns}
    v["may_promote"], v["promotion_score"] = promotion(v)
    return v


def _sync_fields(res, e, s, me):
    source = s["source"] == me
    running = s in active_syncs(res)
    user = res["pause_user"].get(f"{me}>{e['name']}")
    peer = res["pause_user"].get(f"{e['name']}>{me}") or (source and s["dependency"])
    dependency = not source and s["dependency"]
    e["susp"] = [w for w, on in (("user", user), ("peer", peer), ("dependency", dependency)) if on]
    if source:
        e["repl"] = "SyncSource" if running else "PausedSyncS"
    else:
        e["repl"] = "SyncTarget" if running else "PausedSyncT"
    e["oos"] = s["left"]
    # the kernel's rs-total is 0 once nothing is left to copy (drbdsetup prints no done: then)
    total = s["total_kib"] if s["left"] else 0
    elapsed_ms = int((s["elapsed"] + s["paused"]) * 1000)
    copied_sectors = (s["total_kib"] - s["left"]) * 2
    e["rs"] = {"total": total * 2, "dt_start_ms": elapsed_ms, "paused_ms": int(s["paused"] * 1000),
               "dt0_ms": elapsed_ms, "db0": copied_sectors,
               "dt1_ms": min(elapsed_ms, 5000), "db1": copied_sectors if elapsed_ms <= 5000 else
               int(copied_sectors * 5000 / max(1, elapsed_ms))}
    if source and running and s["left"]:
        # the real module's resync connection flips between congested and not within a second
        e["congested"] = int(s["elapsed"]) % 2 == 1
        e["rs_in_flight"] = min(s["left"], 4096)


def promotion(v):
    """drbdsetup events2's may_promote and promotion_score (compute_promotion_info)."""
    if not v["quorum"]:
        return False, 0
    replicas = (v["disk"] == "UpToDate") + sum(
        1 for c in v["connections"] if c["cstate"] == "Connected" and c["pdisk"] == "UpToDate")
    if replicas == 0:
        return False, 0
    has_disk = v["disk"] in ("UpToDate", "Consistent", "Inconsistent")
    primary = v["role"] == "Primary" or any(c["peer_role"] == "Primary" for c in v["connections"])
    stable = v["disk"] == "UpToDate" and not any(c["repl"] in ("SyncTarget", "PausedSyncT")
                                                  for c in v["connections"])
    return (not primary and stable), has_disk * 10000 + (v["disk"] == "UpToDate") * 100 + replicas


class Wrap:
    """drbd-utils' wrap_printf (user/shared/wrap_printf.c), for a stdout that is not a tty."""

    def __init__(self, columns=COLUMNS):
        self.columns, self.col, self.out = columns, 0, []

    def __call__(self, indent, text):
        if self.col + len(text) > self.columns:
            self.out.append("\n")
            if text.startswith("\n"):
                text = text[1:]
            self.col = 0
        if self.col == 0:
            text = text.lstrip(" ")
            self.col += indent
            self.out.append(" " * indent)
        self.out.append(text)
        self.col += len(text)
        if text.endswith("\n"):
            self.col = 0

    def text(self):
        return "".join(self.out)


def _done(c):
    rs = c["rs"]
    return 100.0 * (rs["total"] - c["oos"] * 2) / rs["total"]


def fmt_text(v, verbose=False, statistics=False, w=None):
    """One resource as `drbdsetup status` prints it (drbdadm status runs drbdsetup status)."""
    w = w or Wrap()
    w(0, v["name"])
    if verbose:
        w(4, f" node-id:{v['node_id']}")
    w(4, f" role:{v['role']}")
    if verbose:
        w(4, " suspended:no")
        w(4, " force-io-failures:no")
    if statistics and verbose:
        w(4, "\n")
        w(4, " write-ordering:flush")
    w(0, "\n")
    # the device
    indent = 2
    if verbose:
        w(indent, "volume:0")
        indent = 6
        w(indent, f" minor:{v['minor']}")
    w(indent, f" disk:{v['disk']}")
    if v["disk"] == "Diskless":
        w(indent, " client:no")
    if verbose:
        w(indent, f" backing_dev:{v['backing_dev']}")
    if verbose or not v["quorum"]:
        w(indent, " quorum:" + ("yes" if v["quorum"] else "no"))
    indent = 6
    if statistics:
        w(indent, "\n")
        if verbose:
            w(indent, f" size:{v['size']}")
        w(indent, f" read:{v['read']}")
        w(indent, f" written:{v['written']}")
        if verbose:
            for k in ("al-writes", "bm-writes"):
                w(indent, f" {k}:{v[k.replace('-', '_')]}")
            w(indent, " upper-pending:0")
            w(indent, " lower-pending:0")
            w(indent, " al-suspended:no")
    if verbose:
        w(indent, " blocked:no")
    w(indent, "\n")
    for c in v["connections"]:
        _fmt_connection(w, c, verbose, statistics)
    w(0, "\n")
    return w.text()


def _fmt_connection(w, c, verbose, statistics):
    w(2, c["name"])
    if verbose:
        w(6, f" node-id:{c['peer_node_id']}")
    if verbose or c["cstate"] != "Connected":
        w(6, f" connection:{c['cstate']}")
    if verbose or c["cstate"] == "Connected":
        w(6, f" role:{c['peer_role']}")
    if verbose or c["congested"]:
        w(6, " congested:" + ("yes" if c["congested"] else "no"))
        w(6, f" ap-in-flight:{c['ap_in_flight']}")
        w(6, f" rs-in-flight:{c['rs_in_flight']}")
    w(0, "\n")
    if not (verbose or statistics or c["cstate"] == "Connected"):
        return
    indent = 4
    if verbose:
        w(indent, "volume:0")
        indent = 8
    if verbose or c["repl"] not in ("Off", "Established"):
        w(indent, f" replication:{c['repl']}")
        indent = 8
    if verbose or statistics or c["repl"] != "Off" or c["pdisk"] != "DUnknown":
        w(indent, f" peer-disk:{c['pdisk']}")
        if c["pdisk"] == "Diskless":
            w(indent, " peer-client:no")
        indent = 8
        details = c["rs"] is not None and c["rs"]["total"] != 0
        if details:
            w(indent, " done:%.2f" % _done(c))
        if verbose or c["susp"]:
            w(indent, " resync-suspended:" + (",".join(c["susp"]) or "no"))
        if statistics:
            w(indent, "\n")
            w(indent, f" received:{c['received']}")
            w(indent, f" sent:{c['sent']}")
            if verbose or c["oos"]:
                w(indent, f" out-of-sync:{c['oos']}")
            if verbose:
                w(indent, f" pending:{c['pending']}")
                w(indent, f" unacked:{c['unacked']}")
                if details:
                    db, dt = c["rs"]["db1"], c["rs"]["dt1_ms"] or 1
                    w(indent, " dbdt1:%.2f" % (db / dt * 1000.0 / 2048.0))
                    eta = dt * 1e-3 * (c["oos"] * 2) / db if db > 0 else float("nan")
                    w(indent, " eta:%.0f" % eta)
    w(0, "\n")


def _b(x):
    return "true" if x else "false"


def fmt_json_one(v):
    s = ["{\n"
         f'  "name": "{v["name"]}",\n'
         f'  "node-id": {v["node_id"]},\n'
         f'  "role": "{v["role"]}",\n'
         '  "suspended": false,\n'
         '  "suspended-user": false,\n'
         '  "suspended-no-data": false,\n'
         '  "suspended-fencing": false,\n'
         '  "suspended-quorum": false,\n'
         '  "force-io-failures": false,\n'
         '  "write-ordering": "flush",\n'
         '  "devices": [\n'
         "    {\n"
         '      "volume": 0,\n'
         f'      "minor": {v["minor"]},\n'
         f'      "disk-state": "{v["disk"]}",\n'
         '      "client": false,\n'
         f'      "quorum": {_b(v["quorum"])},\n'
         f'      "size": {v["size"]},\n'
         f'      "read": {v["read"]},\n'
         f'      "written": {v["written"]},\n'
         f'      "al-writes": {v["al_writes"]},\n'
         f'      "bm-writes": {v["bm_writes"]},\n'
         '      "upper-pending": 0,\n'
         '      "lower-pending": 0\n'
         "    }",
         ' ],\n  "connections": [\n']
    conns = []
    for c in v["connections"]:
        details = c["rs"] is not None and c["rs"]["total"] != 0
        # drbdsetup.c: "a volume of size 0 is what? 100% in sync? 0% in sync?" -> 0
        insync = 100.0 * (1 - c["oos"] / v["size"]) if v["size"] else 0.0
        cs = ("    {\n"
              f'      "peer-node-id": {c["peer_node_id"]},\n'
              f'      "name": "{c["name"]}",\n'
              f'      "connection-state": "{c["cstate"]}", \n'
              f'      "congested": {_b(c["congested"])},\n'
              f'      "peer-role": "{c["peer_role"]}",\n'
              f'      "ap-in-flight": {c["ap_in_flight"]},\n'
              f'      "rs-in-flight": {c["rs_in_flight"]},\n'
              '      "peer_devices": [\n'
              "        {\n"
              '          "volume": 0,\n'
              f'          "replication-state": "{c["repl"]}",\n'
              f'          "peer-disk-state": "{c["pdisk"]}",\n'
              '          "peer-client": false,\n'
              f'          "resync-suspended": "{",".join(c["susp"]) or "no"}",\n'
              f'          "received": {c["received"]},\n'
              f'          "sent": {c["sent"]},\n'
              f'          "out-of-sync": {c["oos"]},\n'
              f'          "pending": {c["pending"]},\n'
              f'          "unacked": {c["unacked"]},\n'
              f'          "has-sync-details": {_b(details)},\n'
              '          "has-online-verify-details": false,\n'
              '          "percent-in-sync": %.2f%s\n' % (insync, "," if details else ""))
        if details:
            cs += _sync_details_json(c)
        cs += "        } ]\n    }"
        conns.append(cs)
    s.append(",\n".join(conns))
    s.append(" ]\n}")
    return "".join(s)


def _sync_details_json(c):
    """The resync statistics drbdsetup prints when the kernel reports rs-total (sectors)."""
    rs = c["rs"]
    to_go = c["oos"] * 2
    db0, dt0 = rs["db0"], rs["dt0_ms"] or 1
    db1, dt1 = rs["db1"], rs["dt1_ms"] or 1
    eta = 987654321 if db1 <= 0 else dt1 * 1e-3 * to_go / db1
    dt = (rs["dt_start_ms"] - rs["paused_ms"]) or 1
    return ('          "rs-total": %d,\n'
            '          "rs-dt-start-ms": %d,\n'
            '          "rs-paused-ms": %d,\n'
            '          "rs-dt0-ms": %d,\n'
            '          "rs-db0-sectors": %d,\n'
            '          "rs-dt1-ms": %d,\n'
            '          "rs-db1-sectors": %d,\n'
            '          "rs-failed": 0,\n'
            '          "rs-same-csum": 0,\n'
            '          "want": 0.00,\n'
            '          "db0/dt0 [MiB/s]": %.2f,\n'
            '          "db1/dt1 [MiB/s]": %.2f,\n'
            '          "estimated-seconds-to-finish": %.0f,\n'
            '          "db/dt [MiB/s]": %.2f,\n'
            '          "percent-resync-done": %.2f\n'
            % (rs["total"], rs["dt_start_ms"], rs["paused_ms"], rs["dt0_ms"], db0, rs["dt1_ms"],
               db1, db0 / dt0 * 1000.0 / 2048.0, db1 / dt1 * 1000.0 / 2048.0, eta,
               (rs["total"] - to_go) / dt * 1000.0 / 2048.0,
               100.0 * (rs["total"] - to_go) / rs["total"]))


def fmt_json(views):
    # drbdsetup: puts("["), the resources joined by puts(","), puts("]\n")
    return "[\n" + "".join(fmt_json_one(v) + ("\n" if i == len(views) - 1 else ",\n")
                           for i, v in enumerate(views)) + "]\n\n"


def fmt_events2(views):
    """`drbdsetup events2 --now --statistics`: the objects, then `exists -`."""
    out = []
    for v in views:
        name = v["name"]
        out.append(f"exists resource name:{name} role:{v['role']} suspended:no "
                   "force-io-failures:no write-ordering:flush "
                   f"may_promote:{'yes' if v['may_promote'] else 'no'} "
                   f"promotion_score:{v['promotion_score']}")
        conns = sorted(v["connections"], key=lambda c: -c["peer_node_id"])
        for c in conns:
            out.append(f"exists connection name:{name} peer-node-id:{c['peer_node_id']} "
                       f"conn-name:{c['name']} connection:{c['cstate']} role:{c['peer_role']} "
                       f"congested:{'yes' if c['congested'] else 'no'} "
                       f"ap-in-flight:{c['ap_in_flight']} rs-in-flight:{c['rs_in_flight']}")
        out.append(f"exists device name:{name} volume:0 minor:{v['minor']} "
                   f"backing_dev:{v['backing_dev']} disk:{v['disk']} client:no "
                   f"quorum:{'yes' if v['quorum'] else 'no'} size:{v['size']} read:{v['read']} "
                   f"written:{v['written']} al-writes:{v['al_writes']} bm-writes:{v['bm_writes']} "
                   "upper-pending:0 lower-pending:0 al-suspended:no blocked:no")
        for c in conns:
            details = c["rs"] is not None and c["rs"]["total"] != 0
            line = (f"exists peer-device name:{name} peer-node-id:{c['peer_node_id']} "
                    f"conn-name:{c['name']} volume:0 replication:{c['repl']} "
                    f"peer-disk:{c['pdisk']} peer-client:no "
                    f"resync-suspended:{','.join(c['susp']) or 'no'}")
            if details:
                line += " done:%.2f" % _done(c)
            line += (f" received:{c['received']} sent:{c['sent']} out-of-sync:{c['oos']} "
                     f"pending:{c['pending']} unacked:{c['unacked']}")
            if details:
                db, dt = c["rs"]["db1"], c["rs"]["dt1_ms"] or 1
                eta = dt * 1e-3 * (c["oos"] * 2) / db if db > 0 else float("nan")
                line += " dbdt1:%.2f eta:%.0f" % (db / dt * 1000.0 / 2048.0, eta)
            out.append(line)
            here, there, port = c["path"]
            if here and there:
                out.append(f"exists path name:{name} peer-node-id:{c['peer_node_id']} "
                           f"conn-name:{c['name']} local:ipv4:{here}:{port} "
                           f"peer:ipv4:{there}:{port} "
                           f"established:{'yes' if c['cstate'] == 'Connected' else 'no'}")
    out.append("exists -")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- commands
class Fail(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.msg = msg
        self.code = code


def split_args(argv):
    opts, pos = [], []
    for a in argv:
        if a == "--":
            continue
        (opts if a.startswith("-") else pos).append(a)
    return opts, pos


def terminated(drbdsetup_cmd, code):
    return f"Command '{drbdsetup_cmd}' terminated with exit code {code}"


def state_change_fail(res_name, code, text, cmd, exit_code=11, info=None):
    lines = [f"{res_name}: State change failed: ({code}) {text}"]
    if info:
        lines += ["additional info from kernel:", info]
    raise Fail("\n".join(lines + [terminated(cmd, exit_code)]), exit_code)


def unknown_resource(name, cmd):
    raise Fail(f"{name}: Failure: (158) Unknown resource\nadditional info from kernel:\n"
               f"unknown resource\n{terminated(cmd, 10)}", 10)


def held_open_info(res, loc):
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(loc["open_since"] or clock()))
    ms = int(((loc["open_since"] or 0) % 1) * 1000)
    return f"drbd{res['minor']} opened by mount (pid 0) at {since}.{ms:03d}"


def cmd_status(st, me, names, opts, tool):
    now = clock()
    if tool == "drbdadm" and not os.environ.get("DRBD_SIM_NO_CONFCHECK"):
        for n in names:
            if n != "all" and n not in configured_resources():
                raise Fail(f"'{n}' not defined in your config (for this host).", 1)
    as_json = "--json" in opts or "-j" in opts
    verbose = "--verbose" in opts or "-v" in opts
    statistics = "--statistics" in opts or "-s" in opts
    resources = st.get("resources", {})
    views = []
    for name in sorted(resources):
        res = resources[name]
        if me in res["local"]:
            v = local_view(res, me, now)
            if v:
                views.append(v)
    out = "# No currently configured DRBD found.\n" if not views and not as_json else ""
    wanted = [n for n in names if n != "all"]
    missing = [n for n in wanted if n not in {v["name"] for v in views}]
    if wanted:
        views = [v for v in views if v["name"] in wanted]
    if as_json:
        out += fmt_json(views)
    else:
        out += "".join(fmt_text(v, verbose, statistics) for v in views)
    if missing:
        # drbdsetup reports the first name it cannot find; drbdadm adds its own line
        err = f"{missing[0]}: No such resource\n"
        if tool == "drbdadm":
            err += terminated(f"drbdsetup status {missing[0]}", 10) + "\n"
        return out, err, 10
    return out, "", 0


def get_res(st, me, name, tool):
    if tool == "drbdadm" and not os.environ.get("DRBD_SIM_NO_CONFCHECK") \
            and name not in configured_resources():
        raise Fail(f"'{name}' not defined in your config (for this host).", 1)
    res = st.get("resources", {}).get(name)
    if res is None or me not in res["local"]:
        raise Fail(f"{name}: No such resource", 10)
    return res


def parse_target(spec):
    """`res` or drbdadm's `res:peer` (one connection)."""
    name, _, peer = spec.partition(":")
    return name, peer or None


def leave(res, me, targets, now):
    """me closes its connections to targets (disconnect, down): one cluster-wide state change,
    so a Secondary that leaves a Primary is Outdated before any of its peers sees it go."""
    if role(res, me) != "Primary" and res["local"][me]["disk"] == "UpToDate" and any(
            connected(res, me, p, now) and role(res, p) == "Primary" for p in targets):
        res["local"][me]["disk"] = "Outdated"
    for p in targets:
        graceful_disconnect(res, me, p, now)


def graceful_disconnect(res, me, p, now):
    """me closes its connection to p: the side that is not Primary of a Primary-Secondary pair
    is Outdated from now on (the Primary's writes will miss it)."""
    was = connected(res, me, p, now)
    res["want"][f"{me}>{p}"] = False
    if not was:
        return
    for a, b in ((me, p), (p, me)):
        if role(res, b) == "Primary" and role(res, a) != "Primary" \
                and res["local"][a]["disk"] == "UpToDate":
            res["local"][a]["disk"] = "Outdated"
    res["syncs"] = [s for s in res["syncs"] if {s["source"], s["target"]} != {me, p}]
    res["last"][pair_key(me, p)] = False
    lost(res, me, p, now)
    res["pdisk_seen"][f"{me}>{p}"] = "DUnknown"    # the side that left knows nothing more
    arm_race(res, me, now)


def arm_race(res, me, now):
    """The reconnect race of the runbook's 7.7(a) sequence, when the lab fault armed it: after
    a forced primary, the second Secondary that drops all its connections comes back on a
    generation that the first one's split from (the real module logged rule=history-both)."""
    race = res["race"]
    forced = race.get("forced_by")
    if not race.get("armed") or not forced or me == forced or role(res, me) == "Primary":
        return
    if any(res["want"].get(f"{me}>{p}", True) for p in peers_of(res, me)):
        return          # not a whole-resource disconnect yet
    done = race.setdefault("reconnected", [])
    if me in done:
        return
    done.append(me)
    if len(done) == 2:
        first, second = done
        res["race"]["split"] = pair_key(first, second)
        # and the second one resyncs the whole device from the Primary (rule=history-peer)
        res["oos"][f"{forced}>{second}"] = res.get("size_kib", 0)
        race["armed"] = False


def do_command(st, me, tool, cmd, opts, pos):
    now = clock()
    force = "--force" in opts
    if cmd == "status":
        return cmd_status(st, me, pos, opts, tool)
    if cmd == "events2":
        views = [v for r in sorted(st.get("resources", {}))
                 if me in st["resources"][r]["local"]
                 for v in [local_view(st["resources"][r], me, now)] if v]
        if pos and pos[0] != "all":
            views = [v for v in views if v["name"] == pos[0]]
        return fmt_events2(views), "", 0
    if not pos:
        raise Fail(f"{tool} {cmd}: missing resource name", 20 if tool == "drbdsetup" else 1)
    name, peer = parse_target(pos[0])
    res = get_res(st, me, name, tool)
    loc = res["local"][me]
    if peer is not None and peer not in peers_of(res, me):
        raise Fail(f"{pos[0]}: not defined in your config (for this host).", 1)
    targets = [peer] if peer else peers_of(res, me)
    node_id = {p: res["nodes"].index(p) for p in res["nodes"]}
    if cmd in ("up", "adjust"):
        if not loc["up"]:
            loc["up"] = True
            loc["primary"] = False
            for p in peers_of(res, me):
                res["want"][f"{me}>{p}"] = True
        elif cmd == "up":
            raise Fail(f"{name}: Failure: (161) Resource already exists\n"
                       + terminated(f"drbdsetup new-resource {name} {node_id[me]}", 10), 10)
        else:
            for p in targets:
                res["want"][f"{me}>{p}"] = True
        ensure_device(res)
        return "", "", 0
    if cmd == "outdate":
        if role(res, me) == "Primary":
            state_change_fail(name, -7, "Refusing to be Outdated while Connected",
                              f"drbdsetup outdate {name}")
        if loc["disk"] == "UpToDate":
            loc["disk"] = "Outdated"
        return "", "", 0
    if cmd == "create-md" and not loc["up"]:
        # new metadata: nothing known to be in sync with anyone
        loc.update(disk="Inconsistent", gen=0, hist=[])
        for p in peers_of(res, me):
            res["oos"][f"{me}>{p}"] = res.get("size_kib", 0)
        return "", "", 0
    if cmd == "dstate" and not loc["up"]:
        return loc["disk"] + "\n", "", 0     # drbdadm reads it from the metadata
    if not loc["up"]:
        if cmd in ("status", "role", "dstate", "cstate"):
            raise Fail(f"{name}: No such resource", 10)
        first = peers_of(res, me)[0]
        dcmd = {"disconnect": f"drbdsetup disconnect {name} {node_id[peer or first]}",
                "connect": f"drbdsetup connect {name} {node_id[peer or first]}"}.get(
                    cmd, f"drbdsetup {cmd} {name}")
        unknown_resource(name, dcmd)
    if cmd == "down":
        if loc.get("open"):
            state_change_fail(name, -12, "Device is held open by someone", f"drbdsetup down {name}",
                              info=held_open_info(res, loc))
        leave(res, me, peers_of(res, me), now)
        loc["up"] = False
        loc["primary"] = False
        res["syncs"] = [s for s in res["syncs"] if me not in (s["source"], s["target"])]
        remove_device(res)
        return "", "", 0
    if cmd == "primary":
        dcmd = f"drbdsetup primary {name}" + (" --force" if force else "")
        for p in peers_of(res, me):
            if connected(res, me, p, now) and role(res, p) == "Primary":
                state_change_fail(name, -1, "Multiple primaries not allowed by config", dcmd)
        if not force and loc["disk"] != "UpToDate":
            state_change_fail(name, -2, "Need access to UpToDate data", dcmd, exit_code=17)
        if force:
            force_primary(res, me, now)
        elif not all(connected(res, me, p, now) for p in peers_of(res, me)):
            rotate(res, me, now)
        loc["primary"] = True
        return "", "", 0
    if cmd == "secondary":
        if loc.get("open"):
            state_change_fail(name, -12, "Device is held open by someone",
                              f"drbdsetup secondary {name}", info=held_open_info(res, loc))
        if loc["primary"] and not has_quorum(res, me, now) and loc["disk"] == "UpToDate":
            loc["disk"] = "Outdated"      # demoted without quorum (as the real victim was)
        loc["primary"] = False
        return "", "", 0
    if cmd == "disconnect":
        leave(res, me, targets, now)
        return "", "", 0
    if cmd == "connect":
        discard = "--discard-my-data" in opts
        for p in targets:
            dcmd = f"drbdsetup connect {name} {node_id[p]}" + (" --discard-my-data" if discard else "")
            if res["want"].get(f"{me}>{p}", True):
                # drbdadm stops at the first connection that is not StandAlone
                raise Fail(f"{name}: Failure: (125) Device has a net-config (use disconnect first)\n"
                           + terminated(dcmd, 10), 10)
            if discard and role(res, me) == "Primary":
                raise Fail(f"{name}: Failure: (123) --discard-my-data not allowed when primary.\n"
                           + terminated(dcmd, 10), 10)
            if discard:
                res["discard"][me] = True
            res["want"][f"{me}>{p}"] = True
        return "", "", 0
    if cmd in ("pause-sync", "resume-sync"):
        for p in targets:
            if cmd == "pause-sync":
                res["pause_user"][f"{me}>{p}"] = True
            else:
                res["pause_user"].pop(f"{me}>{p}", None)
        if cmd == "resume-sync":
            resume_one_source(res, now)
        return "", "", 0
    if cmd == "role":
        return role(res, me) + "\n", "", 0
    if cmd == "dstate":
        v = local_view(res, me, now)
        return "/".join([v["disk"]] + [c["pdisk"] for c in v["connections"]]) + "\n", "", 0
    if cmd == "cstate":
        v = local_view(res, me, now)
        return "\n".join(c["cstate"] for c in v["connections"]) + "\n", "", 0
    if cmd == "invalidate":
        loc["disk"] = "Inconsistent"
        for p in peers_of(res, me):
            if connected(res, me, p, now) and res["local"][p]["disk"] == "UpToDate":
                start_sync(res, p, me, res.get("size_kib", 0), now)
                break
        return "", "", 0
    if cmd in ("create-md", "wait-connect", "wait-sync", "attach", "detach", "resize", "sh-nop",
               "peer-device-options", "disk-options", "net-options", "resource-options"):
        return "", "", 0
    raise Fail(f"{tool}: unknown command '{cmd}'", 20)


def force_primary(res, me, now):
    """`primary --force`: this copy is declared UpToDate; connected peers of the same generation
    that are Outdated become UpToDate with it at once (no resync); Inconsistent ones sync fully."""
    loc = res["local"][me]
    old = loc["gen"]
    res["syncs"] = [s for s in res["syncs"] if s["target"] != me]
    loc["disk"] = "UpToDate"
    for p in peers_of(res, me):
        lp = res["local"][p]
        if connected(res, me, p, now) and lp["gen"] == old and lp["disk"] in ("Outdated", "Consistent"):
            lp["disk"] = "UpToDate"
    rotate(res, me, now)
    for p in peers_of(res, me):
        if connected(res, me, p, now) and res["local"][p]["disk"] == "Inconsistent":
            start_sync(res, me, p, res.get("size_kib", 0), now)
    res["race"]["forced_by"] = me
    res["race"]["reconnected"] = []


def make_split_brain(res, survivor, victim, now, victim_kib=2092, survivor_kib=48):
    """A split brain made as it was on the real module: the victim leaves every peer, is forced
    Primary without quorum, written to and demoted (Outdated); the survivor, Primary, writes
    too; then the victim connects again. The survivor and the victim drop their connection
    (StandAlone both ways); the third node keeps the Outdated victim connected."""
    loc = res["local"][victim]
    leave(res, victim, peers_of(res, victim), now)
    force_primary(res, victim, now)
    loc["primary"] = True
    record_writes(res, victim, victim_kib, now)
    loc["primary"] = False
    if loc["disk"] == "UpToDate":
        loc["disk"] = "Outdated"        # demoted without quorum
    if role(res, survivor) != "Primary":
        res["local"][survivor]["primary"] = True
    record_writes(res, survivor, survivor_kib, now)
    for p in peers_of(res, victim):
        res["want"][f"{victim}>{p}"] = True
    res["race"] = {}


def resume_one_source(res, now):
    """After resume-sync a target takes one source at a time (the others wait: dependency)."""
    for t in {s["target"] for s in res["syncs"]}:
        mine = [s for s in res["syncs"] if s["target"] == t]
        if len(mine) < 2:
            continue
        # as the real module chose: the source with the least left, a Secondary before the
        # Primary (which serves the application's I/O)
        first = min(mine, key=lambda s: (s["left"], role(res, s["source"]) == "Primary",
                                         res["nodes"].index(s["source"])))
        for s in mine:
            s["dependency"] = s is not first


READ_ONLY = {"status", "role", "dstate", "cstate", "events2"}


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    tool = os.path.basename(argv[0])
    args = argv[1:]
    if tool not in ("drbdadm", "drbdsetup"):
        if args and args[0] in ("drbdadm", "drbdsetup"):
            tool, args = args[0], args[1:]
        elif args and args[0] == "agent":
            return agent()
        else:
            sys.stderr.write("usage: drbdsim.py {drbdadm|drbdsetup|agent} ...\n")
            return 20
    if os.geteuid() != 0 and not os.environ.get("DRBD_SIM_ROOT_OK"):
        sys.stderr.write("You must be root to use this tool.\n"
                         if tool == "drbdadm" else
                         f"{tool}: This command requires root privileges.\n")
        return 20 if tool == "drbdsetup" else 1
    opts, pos = split_args(args)
    if not pos:
        sys.stderr.write(f"USAGE: {tool} COMMAND [OPTION...] {{all|RESOURCE...}}\n")
        return 20 if tool == "drbdsetup" else 1
    cmd, pos = pos[0], pos[1:]
    me = node_name()
    try:
        with Locked(write=True) as st:
            refresh_local(st, me)
            settle(st)
            out, err, code = do_command(st, me, tool, cmd, opts, pos)
            if cmd not in READ_ONLY:
                settle(st)
    except Fail as f:
        sys.stderr.write(f.msg + "\n")
        return f.code
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


def power_on(state, me, now=None):
    """A node boots: if its last heartbeat is stale it was powered off, and it comes back with
    no role (a reboot loses the Primary role; drbd-resource@ runs `adjust` after this)."""
    now = clock() if now is None else now
    for res in state.get("resources", {}).values():
        loc = res["local"].get(me)
        if loc and loc.get("hb") is not None and now - loc["hb"] >= HB_TIMEOUT:
            if loc["up"] and (loc["primary"] or loc["open"]):
                loc["crashed_primary"] = True
            loc["primary"] = False
            loc["open"] = False
            loc["open_since"] = None
        if loc:
            loc["hb"] = now


def make_clean(res):
    """Back to a clean resource (the lab's heal): every copy UpToDate on one generation,
    connected, nothing out of sync, nothing armed."""
    complete(res)
    for n in res["nodes"]:
        res["local"][n].update(disk="UpToDate", primary=False, gen=1, hist=[],
                               crashed_primary=False, both_off_peers=[])
    for k in res["want"]:
        res["want"][k] = True
    for k in ("syncs",):
        res[k] = []
    for k in ("stuck", "split_brain", "discard", "oos", "pause_user", "race", "pdisk_seen"):
        res[k] = {}
    res["next_gen"] = 2


def agent():
    """drbd-sim-agent: reports this node's heartbeat, open (mounted) state and I/O every second."""
    me = node_name()
    with Locked(write=True) as st:
        power_on(st, me)
    while True:
        try:
            with Locked(write=True) as st:
                refresh_local(st, me, heartbeat=True)
                settle(st)
        except Exception as e:  # noqa: BLE001 - keep reporting
            sys.stderr.write(f"drbd-sim-agent: {e}\n")
        time.sleep(1.0)


if __name__ == "__main__":
    sys.exit(main())
