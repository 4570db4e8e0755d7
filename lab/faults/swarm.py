"""Lab faults of the area swarm: swarm nodes (checks/test_swarm.py)."""
import os

from .. import site, util
from . import Fault
from .site_ops import alive_hive, default_target, sx


def inj_node_down(lab, target):
    s = default_target(lab, target, "last-hive")
    if s["short"] == site.first_hive(lab)["short"] and not target:
        s = site.hives_of(lab)[-1]
    util.docker("kill", s["short"])
    return s, f"{s['full']} is gone (container killed); docker node ls shows it Down in ~25 s", {}


def heal_node_down(lab, s, rec):
    st = util.docker("inspect", "-f", "{{.State.Running}}", s["short"], check=False).stdout.strip()
    if st != "true":
        util.docker("start", s["short"])
    site.wait_booted(s, 120)


def _node_entries(lab, short, via):
    """(ID, Status) of every `docker node ls` entry with hostname `short`, as `via` sees them."""
    r = sx(via, "docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}'", check=False)
    rows = [x.split() for x in r.stdout.splitlines()]
    return [(x[0], x[2]) for x in rows if len(x) == 3 and x[1] == short]


def _rebuild_target(lab, target):
    if target:
        return site.by_name(lab, target)
    # neither first_hive (the swarm's labels and deploys go there) nor where ldap runs
    busy = {site.first_hive(lab)["short"], site.service_running(lab)}
    return next(h for h in reversed(site.hives_of(lab)) if h["short"] not in busy)


def inj_node_rebuilt_stale(lab, target):
    s = _rebuild_target(lab, target)
    via = next(h for h in site.hives_of(lab) if h["short"] != s["short"])
    old = sx(s, "docker info -f '{{.Swarm.NodeID}}'").stdout.strip()
    token = sx(via, "docker swarm join-token -q manager").stdout.strip()
    image_ref = util.docker("inspect", "-f", "{{.Config.Image}}", s["short"]).stdout.strip()
    with open(os.path.join(site.ctx_dir(lab), "id_rsa.pub")) as f:
        pubkey = f.read()
    # the server destroyed and made again under the same name (runbook 7.9's rebuild), but
    # nobody ran `docker node rm` for the old one; its docker disk comes back without swarm state
    util.docker("rm", "-f", s["short"])
    util.run(["rm", "-rf", os.path.join(util.MNT_DIR, s["short"], "swarm")])
    site.create_server(lab, s, image_ref, pubkey)
    site.wait_booted(s, 120)
    site.write_known_hosts(lab)        # its new host keys, as `hive build-infra` would re-scan
    sx(s, f"docker swarm join --advertise-addr {s['ip']} --token {token} {via['ip']}:2377 >/dev/null",
       timeout=60)
    new = sx(s, "docker info -f '{{.Swarm.NodeID}}'").stdout.strip()
    # hive's labels again, by ID: the hostname is ambiguous while the old entry is there
    labels = ["hives", "servers", "hosts", lab["stage"]]
    sx(via, "docker node update " + " ".join(f"--label-add {x}=true" for x in labels) + f" {new} >/dev/null")
    util.wait_for(lambda: sorted(_node_entries(lab, s["short"], via)) == sorted([(old, "Down"), (new, "Ready")]),
                  90, interval=2, what=f"{s['short']}: old node {old} Down beside new {new} Ready")
    return s, (f"{s['full']} rebuilt and joined again without `docker node rm`: old node {old} "
               f"Down (still a manager), new node {new} Ready"), {"old_id": old, "new_id": new}


def heal_node_rebuilt_stale(lab, s, rec):
    old = rec.get("old_id", "")
    via = alive_hive(lab)
    if any(i == old for i, _ in _node_entries(lab, s["short"], via)):
        sx(via, f"docker node demote {old} >/dev/null 2>&1; docker node rm {old} >/dev/null", check=False)
    util.wait_for(lambda: all(i != old for i, _ in _node_entries(lab, s["short"], via)), 60,
                  what=f"old node {old} removed")


FAULTS = [
    Fault("swarm:node-down", inj_node_down, heal_node_down,
          "a hive container killed [last hive]"),
    Fault("swarm:stale-node", inj_node_rebuilt_stale, heal_node_rebuilt_stale,
          "a hive destroyed, recreated under its name and joined again without "
          "`docker node rm`: its old node entry stays Down [last hive not running ldap]"),
]
