#!/usr/bin/python3
"""Stand-in for DRBD 9 `drbdadm` / `drbdsetup` in the hive lab (no kernel module here).

Installed on every hive as /usr/sbin/drbdadm and /usr/sbin/drbdsetup (symlinks to this file,
which dispatches on argv[0]).  All hives share ONE state file (a host directory bind-mounted
at /var/lib/drbd-sim), guarded by flock, so a state change made on one hive is seen by its
peers exactly as DRBD's replication link would report it.

Output formats follow drbd-utils 9.2x `drbdsetup.c` (status text, status --json) byte for
byte where the lab has the data: resource line, 2-space device line (`disk:` [quorum:no]
`open:`), 2-space connection line (`connection:` when not Connected, `role:` when
Connected), 4-space peer-device line (`replication:` when beyond Established, `peer-disk:`,
`done:` while resyncing), a blank line after each resource; errors `<res>: No such resource`
(exit 10) and `'<res>' not defined in your config (for this host).` (exit 10).

Model (per resource):
  local[node]  up, disk (UpToDate/Outdated/Inconsistent/Consistent/Diskless), manual primary,
               open (the device is mounted on that node: reported by the node itself),
               hb (heartbeat time written by drbd-sim-agent; null = always alive)
  want[a>b]    a wants to connect to b (False = StandAlone, after `disconnect` or split brain)
  stuck[a>b]   a one-sided replication state a shows for b (e.g. WFBitMapS / Consistent)
  split_brain  pairs that detect split brain at their next handshake
  syncs        running resyncs (source, target, start, duration)
Role = Primary when the device is open (DRBD 9 auto-promote) or after `primary`.
A pair is Connected when both nodes are up and alive and both want the connection.  When a
connection is (re)established a handshake runs: split brain -> both StandAlone (unless one side
said --discard-my-data); an UpToDate side resyncs an Outdated/Inconsistent peer (a few seconds,
SyncSource/SyncTarget with done:).  A node that is unreachable while a peer is Primary becomes
Outdated, so it resyncs when it returns.
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
HB_TIMEOUT = float(os.environ.get("DRBD_SIM_HB_TIMEOUT", "6"))
DISKS_NEEDING_SYNC = ("Outdated", "Inconsistent", "Consistent")


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


def new_resource(name, minor, nodes, addresses=None, size_kib=0, dev_major=None, dev_minor=None,
                 port=None):
    nodes = sorted(nodes)
    return {
        "name": name, "minor": minor, "nodes": nodes,
        "addresses": addresses or {}, "port": port or 7000 + minor, "size_kib": size_kib,
        "dev": [dev_major, dev_minor] if dev_major is not None else None,
        "local": {n: {"up": True, "disk": "UpToDate", "primary": False, "open": False,
                      "hb": None} for n in nodes},
        "want": {f"{a}>{b}": True for a in nodes for b in nodes if a != b},
        "stuck": {}, "split_brain": {}, "discard": {}, "syncs": [], "last": {},
        "sync_seconds": 4.0,
    }


def alive(res, n, now):
    loc = res["local"][n]
    if not loc["up"]:
        return False
    hb = loc.get("hb")
    return hb is None or now - hb < HB_TIMEOUT


def present(res, n, now):
    """The node's machine answers at all (used for 'is it Primary' from a peer's side)."""
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


def sync_of(res, a, b):
    for s in res["syncs"]:
        if {s["source"], s["target"]} == {a, b}:
            return s
    return None


def handshake(res, a, b, now):
    key = pair_key(a, b)
    res["stuck"].pop(f"{a}>{b}", None)
    res["stuck"].pop(f"{b}>{a}", None)
    if res["split_brain"].get(key):
        if res["discard"].get(a) or res["discard"].get(b):
            victim, survivor = (a, b) if res["discard"].get(a) else (b, a)
            res["split_brain"].pop(key, None)
            res["discard"].pop(victim, None)
            res["local"][victim]["disk"] = "Inconsistent"
            res["syncs"].append({"source": survivor, "target": victim, "start": now,
                                 "duration": res.get("sync_seconds", 4.0),
                                 "total_kib": res.get("size_kib", 0)})
        else:
            # "Split-Brain detected, dropping connection!"
            res["want"][f"{a}>{b}"] = False
            res["want"][f"{b}>{a}"] = False
        return
    for src, dst in ((a, b), (b, a)):
        ls, ld = res["local"][src], res["local"][dst]
        busy = any(x["target"] == dst for x in res["syncs"])
        if ls["disk"] == "UpToDate" and ld["disk"] in DISKS_NEEDING_SYNC and not busy:
            # an Outdated peer resyncs only the blocks written while it was away (the bitmap);
            # the model takes an eighth of the device; Inconsistent/Consistent: everything
            size = res.get("size_kib", 0)
            total = size // 8 if ld["disk"] == "Outdated" else size
            ld["disk"] = "Inconsistent"
            res["syncs"].append({"source": src, "target": dst, "start": now,
                                 "duration": res.get("sync_seconds", 4.0), "total_kib": total})
            return


def settle(state, now=None):
    now = time.time() if now is None else now
    for res in state.get("resources", {}).values():
        nodes = res["nodes"]
        # finish or abort resyncs
        keep = []
        for s in res["syncs"]:
            if not connected(res, s["source"], s["target"], now):
                continue  # aborted: the target stays Inconsistent
            if now >= s["start"] + s["duration"]:
                res["local"][s["target"]]["disk"] = "UpToDate"
                continue
            keep.append(s)
        res["syncs"] = keep
        # a node that is gone while a peer is Primary misses writes -> Outdated
        primaries = [n for n in nodes if alive(res, n, now) and role(res, n) == "Primary"]
        for n in nodes:
            loc = res["local"][n]
            if not alive(res, n, now) and primaries and n not in primaries \
                    and loc["disk"] == "UpToDate":
                loc["disk"] = "Outdated"
        # handshakes for connections that just came up
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                key = pair_key(a, b)
                c = connected(res, a, b, now)
                if c and not res["last"].get(key):
                    handshake(res, a, b, now)
                    c = connected(res, a, b, now)
                res["last"][key] = c
    return state


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


def refresh_local(state, me, now=None, heartbeat=False):
    if os.environ.get("DRBD_SIM_NO_MOUNTCHECK"):
        return
    devs = None
    for res in state.get("resources", {}).values():
        if me not in res["local"]:
            continue
        if devs is None:
            devs = mounted_devs()
        loc = res["local"][me]
        dev = res.get("dev")
        is_open = False
        if dev:
            is_open = f"{dev[0]}:{dev[1]}" in devs
        is_open = is_open or f"/dev/drbd{res['minor']}" in devs
        loc["open"] = bool(is_open and loc["up"])
        if heartbeat:
            loc["hb"] = time.time() if now is None else now


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
    peers = [n for n in res["nodes"] if n != me]
    conns = []
    n_conn = 0
    local_disk = loc["disk"]
    for p in peers:
        want = res["want"].get(f"{me}>{p}", True)
        c = connected(res, me, p, now)
        entry = {"name": p, "peer_node_id": res["nodes"].index(p)}
        if not want:
            entry.update(cstate="StandAlone", peer_role="Unknown", repl="Off", pdisk="DUnknown")
        elif not c:
            entry.update(cstate="Connecting", peer_role="Unknown", repl="Off", pdisk="DUnknown")
        else:
            n_conn += 1
            entry.update(cstate="Connected", peer_role=role(res, p), repl="Established",
                         pdisk=res["local"][p]["disk"])
            s = sync_of(res, me, p)
            if s:
                frac = min(0.9999, max(0.0, (now - s["start"]) / s["duration"]))
                total = s.get("total_kib", res.get("size_kib", 0))
                # drbdsetup's figures (user/v9/drbdsetup.c): done: = (rs-total - to go) /
                # rs-total; percent-in-sync = 1 - out-of-sync / size (the whole device)
                entry["rs_total"] = total
                entry["oos"] = int(total * (1.0 - frac))
                if total:
                    entry["done"] = 100.0 * (total - entry["oos"]) / total
                if s["source"] == me:
                    entry["repl"] = "SyncSource"
                else:
                    entry["repl"] = "SyncTarget"
            st = res["stuck"].get(f"{me}>{p}")
            if st:
                for k in ("done", "rs_total", "oos"):
                    entry.pop(k, None)
                entry["repl"] = st.get("repl", "WFBitMapS")
                entry["pdisk"] = st.get("pdisk", "Consistent")
        conns.append(entry)
    total = len(res["nodes"])
    quorum = (1 + n_conn) * 2 > total
    return {"name": res["name"], "node_id": res["nodes"].index(me), "role": role(res, me),
            "minor": res["minor"], "disk": local_disk, "open": bool(loc.get("open")),
            "quorum": quorum, "size": res.get("size_kib", 0), "connections": conns}


def fmt_text(v):
    out = [f"{v['name']} role:{v['role']}"]
    dl = f"  disk:{v['disk']}"
    if v["disk"] == "Diskless":
        dl += " client:no"
    if not v["quorum"]:
        dl += " quorum:no"
    dl += " open:" + ("yes" if v["open"] else "no")
    out.append(dl)
    for c in v["connections"]:
        line = f"  {c['name']}"
        if c["cstate"] != "Connected":
            line += f" connection:{c['cstate']}"
        else:
            line += f" role:{c['peer_role']}"
        out.append(line)
        if c["cstate"] == "Connected":
            pl = "   "
            if c["repl"] not in ("Off", "Established"):
                pl += f" replication:{c['repl']}"
            pl += f" peer-disk:{c['pdisk']}"
            if c["pdisk"] == "Diskless":
                pl += " peer-client:no"
            if "done" in c:
                pl += " done:%.2f" % c["done"]
            out.append("    " + pl.strip())
    return "\n".join(out) + "\n\n"


def _b(x):
    return "true" if x else "false"


def fmt_json_one(v):
    s = []
    s.append("{\n"
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
             '  "devices": [\n')
    s.append("    {\n"
             '      "volume": 0,\n'
             f'      "minor": {v["minor"]},\n'
             f'      "disk-state": "{v["disk"]}",\n'
             '      "client": false,\n'
             f'      "open": {_b(v["open"])},\n'
             f'      "quorum": {_b(v["quorum"])},\n'
             f'      "size": {v["size"]},\n'
             '      "read": 0,\n'
             '      "written": 0,\n'
             '      "al-writes": 0,\n'
             '      "bm-writes": 0,\n'
             '      "upper-pending": 0,\n'
             '      "lower-pending": 0\n'
             "    }")
    s.append(' ],\n  "connections": [\n')
    conns = []
    for c in v["connections"]:
        connected_ = c["cstate"] == "Connected"
        oos = c.get("oos", 0)
        # drbdsetup.c: "a volume of size 0 is what? 100% in sync? 0% in sync?" -> 0
        insync = 100.0 * (1 - oos / v["size"]) if v["size"] else 0.0
        cs = ("    {\n"
              f'      "peer-node-id": {c["peer_node_id"]},\n'
              f'      "name": "{c["name"]}",\n'
              f'      "connection-state": "{c["cstate"]}", \n'
              '      "congested": false,\n'
              f'      "peer-role": "{c["peer_role"]}",\n'
              '      "tls": false,\n'
              '      "ap-in-flight": 0,\n'
              '      "rs-in-flight": 0,\n'
              '      "paths": [\n')
        addr = c.get("paths")
        if addr:
            cs += ("        {\n"
                   '          "this_host": {\n'
                   f'            "address": "{addr[0]}",\n'
                   f'            "port": {addr[2]},\n'
                   '            "family": "ipv4"\n'
                   "          },\n"
                   '          "remote_host": {\n'
                   f'            "address": "{addr[1]}",\n'
                   f'            "port": {addr[2]},\n'
                   '            "family": "ipv4"\n'
                   "          },\n"
                   f'          "established": {_b(connected_)}\n'
                   "        }")
        cs += " ],\n"
        cs += '      "peer_devices": [\n'
        details = "done" in c    # the kernel's resync details: rs-total is non-zero
        cs += ("        {\n"
               '          "volume": 0,\n'
               f'          "replication-state": "{c["repl"]}",\n'
               f'          "peer-disk-state": "{c["pdisk"]}",\n'
               '          "peer-client": false,\n'
               '          "resync-suspended": "no",\n'
               '          "received": 0,\n'
               '          "sent": 0,\n'
               f'          "out-of-sync": {oos},\n'
               '          "pending": 0,\n'
               '          "unacked": 0,\n'
               f'          "has-sync-details": {_b(details)},\n'
               '          "has-online-verify-details": false,\n'
               '          "percent-in-sync": %.2f%s\n' % (insync, "," if details else ""))
        if details:
            cs += _sync_details_json(c)
        cs += "        }"
        cs += " ]\n    }"
        conns.append(cs)
    s.append(",\n".join(conns))
    s.append(" ]\n}")
    return "".join(s)


def _sync_details_json(c):
    """The resync statistics drbdsetup prints when the kernel reports rs-total (sectors)."""
    total, to_go = c["rs_total"] * 2, c["oos"] * 2
    elapsed_ms = 10000
    done_sectors = total - to_go
    rate = done_sectors / elapsed_ms * 1000.0 / 2048.0
    eta = elapsed_ms * 1e-3 * to_go / done_sectors if done_sectors > 0 else 987654321
    return ('          "rs-total": %d,\n'
            '          "rs-dt-start-ms": %d,\n'
            '          "rs-paused-ms": 0,\n'
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
            % (total, elapsed_ms, elapsed_ms, done_sectors, elapsed_ms, done_sectors,
               rate, rate, eta, rate, 100.0 * done_sectors / total))


def fmt_json(views):
    out = "[\n" + ",\n".join(fmt_json_one(v) for v in views) + "\n]\n\n"
    return out


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


def state_change_fail(res_name, code, text, cmd):
    raise Fail(f"{res_name}: State change failed: ({code}) {text}\n"
               f"Command '{cmd}' terminated with exit code 11", 11)


def with_paths(res, me, views):
    addrs = res.get("addresses") or {}
    for c in views["connections"]:
        if me in addrs and c["name"] in addrs:
            c["paths"] = (addrs[me], addrs[c["name"]], res.get("port", 7000 + res["minor"]))
    return views


def cmd_status(st, me, names, as_json, tool):
    now = time.time()
    resources = st.get("resources", {})
    views = []
    if not names or names == ["all"]:
        for name in sorted(resources):
            res = resources[name]
            if me in res["local"]:
                v = local_view(res, me, now)
                if v:
                    views.append(with_paths(res, me, v))
        if not views and not as_json:
            return "# No currently configured DRBD found.\n", "", 0
        return (fmt_json(views) if as_json else "".join(fmt_text(v) for v in views)), "", 0
    err = ""
    code = 0
    for name in names:
        res = resources.get(name)
        v = local_view(res, me, now) if res and me in res["local"] else None
        if v is None:
            err += f"{name}: No such resource\n"
            code = 10
            continue
        views.append(with_paths(res, me, v))
    if as_json:
        return fmt_json(views), err, code
    return "".join(fmt_text(v) for v in views), err, code


def get_res(st, me, name, tool, need_up=True):
    if tool == "drbdadm" and not os.environ.get("DRBD_SIM_NO_CONFCHECK") \
            and name not in configured_resources():
        raise Fail(f"'{name}' not defined in your config (for this host).", 10)
    res = st.get("resources", {}).get(name)
    if res is None or me not in res["local"]:
        raise Fail(f"{name}: No such resource", 10)
    if need_up and not res["local"][me]["up"]:
        raise Fail(f"{name}: No such resource", 10)
    return res


def do_command(st, me, tool, cmd, opts, pos):
    now = time.time()
    force = "--force" in opts
    if cmd == "status":
        return cmd_status(st, me, pos, "--json" in opts, tool)
    if not pos:
        raise Fail(f"{tool} {cmd}: missing resource name", 20 if tool == "drbdsetup" else 1)
    name = pos[0]
    dcmd = f"drbdsetup {cmd} {name}"
    if cmd == "up" or cmd == "adjust":
        res = get_res(st, me, name, tool, need_up=False)
        loc = res["local"][me]
        if not loc["up"]:
            loc["up"] = True
            loc["hb"] = loc.get("hb") and now
            others_primary = [n for n in res["nodes"] if n != me and alive(res, n, now)
                              and role(res, n) == "Primary"]
            if others_primary and loc["disk"] == "UpToDate":
                loc["disk"] = "Outdated"
            for p in res["nodes"]:
                if p != me:
                    res["want"][f"{me}>{p}"] = True
        elif cmd == "up":
            raise Fail(f"{name}: Failure: (161) Resource already exists\n"
                       f"Command 'drbdsetup new-resource {name} {res['nodes'].index(me)}' "
                       "terminated with exit code 10", 10)
        else:
            for p in res["nodes"]:
                if p != me:
                    res["want"][f"{me}>{p}"] = True
        ensure_device(res)
        return "", "", 0
    res = get_res(st, me, name, tool)
    loc = res["local"][me]
    if cmd == "down":
        if loc.get("open"):
            state_change_fail(name, -12, "Device is held open by someone", f"drbdsetup down {name}")
        loc["up"] = False
        loc["primary"] = False
        res["syncs"] = [s for s in res["syncs"] if me not in (s["source"], s["target"])]
        remove_device(res)
        return "", "", 0
    if cmd == "primary":
        for p in res["nodes"]:
            if p != me and connected(res, me, p, now) and role(res, p) == "Primary":
                state_change_fail(name, -1, "Multiple primaries not allowed by config", dcmd)
        if force:
            if loc["disk"] != "UpToDate":
                loc["disk"] = "UpToDate"
                res["syncs"] = [s for s in res["syncs"] if s["target"] != me]
        elif loc["disk"] != "UpToDate":
            raise Fail(f"{name}: State change failed: (-2) Need access to UpToDate data\n"
                       f"Command '{dcmd}' terminated with exit code 17", 17)
        loc["primary"] = True
        return "", "", 0
    if cmd == "secondary":
        if loc.get("open"):
            state_change_fail(name, -12, "Device is held open by someone", dcmd)
        loc["primary"] = False
        return "", "", 0
    if cmd == "disconnect":
        for p in res["nodes"]:
            if p != me:
                res["want"][f"{me}>{p}"] = False
        res["syncs"] = [s for s in res["syncs"] if me not in (s["source"], s["target"])]
        return "", "", 0
    if cmd == "connect":
        if "--discard-my-data" in opts:
            if role(res, me) == "Primary":
                raise Fail(f"{name}: Failure: (123) --discard-my-data not allowed when primary.\n"
                           f"Command 'drbdsetup connect {name}' terminated with exit code 10", 10)
            res["discard"][me] = True
        else:
            res["discard"].pop(me, None)
        for p in res["nodes"]:
            if p != me:
                res["want"][f"{me}>{p}"] = True
        return "", "", 0
    if cmd == "role":
        return role(res, me) + "\n", "", 0
    if cmd == "dstate":
        v = local_view(res, me, now)
        return "/".join([v["disk"]] + [c["pdisk"] for c in v["connections"]]) + "\n", "", 0
    if cmd == "cstate":
        v = local_view(res, me, now)
        return "\n".join(c["cstate"] for c in v["connections"]) + "\n", "", 0
    if cmd in ("create-md", "wait-connect", "wait-sync", "attach", "detach", "outdate",
               "invalidate", "resize", "sh-nop"):
        if cmd == "outdate":
            if role(res, me) == "Primary":
                state_change_fail(name, -7, "Refusing to be Outdated while Connected", dcmd)
            loc["disk"] = "Outdated"
        if cmd == "invalidate":
            loc["disk"] = "Inconsistent"
            for p in res["nodes"]:
                if p != me and connected(res, me, p, now) and res["local"][p]["disk"] == "UpToDate":
                    res["syncs"].append({"source": p, "target": me, "start": now,
                                         "duration": res.get("sync_seconds", 4.0)})
                    break
        return "", "", 0
    raise Fail(f"{tool}: unknown command '{cmd}'", 20)


READ_ONLY = {"status", "role", "dstate", "cstate"}


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


def agent():
    """drbd-sim-agent: reports this node's heartbeat and open (mounted) state every second."""
    me = node_name()
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
