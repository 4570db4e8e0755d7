"""Lab faults of the area drbd: the DRBD resource of the ldap volume, through the DRBD simulation
(checks/test_drbd.py)."""
from .. import site
from . import Fault
from .site_ops import drbd_reset, ldap_node, sim_update, stop_service, sx


def inj_drbd_outdated(lab, target):
    stop_service(lab)

    def f(res, now):
        for n in res["nodes"]:
            res["local"][n]["disk"] = "Outdated"
            res["local"][n]["primary"] = False
        res["syncs"] = []
    sim_update(lab, f)
    return None, (f"service {lab['service']} scaled to 0; {lab['volume']} Secondary/Outdated "
                  "on every hive"), {}


def heal_drbd(lab, s, rec):
    drbd_reset(lab)


def inj_drbd_one_sided(lab, target):
    p = ldap_node(lab) or site.first_hive(lab)
    others = [h for h in site.hives_of(lab) if h["full"] != p["full"]]
    q = site.by_name(lab, target) if target else others[0]

    def f(res, now):
        res["stuck"][f"{p['full']}>{q['full']}"] = {"repl": "WFBitMapS", "pdisk": "Consistent"}
    sim_update(lab, f)
    return q, (f"{p['full']} shows replication:WFBitMapS peer-disk:Consistent for {q['full']}, "
               f"whose own view is clean (fix: disconnect/connect on {q['full']})"), {"primary": p["full"]}


def inj_drbd_split_brain(lab, target):
    p = ldap_node(lab) or site.first_hive(lab)
    others = [h for h in site.hives_of(lab) if h["full"] != p["full"]]
    q = site.by_name(lab, target) if target else others[0]

    def f(res, now):
        res["want"][f"{p['full']}>{q['full']}"] = False
        res["want"][f"{q['full']}>{p['full']}"] = False
        res["split_brain"][sim_key(p, q)] = True
    sim_update(lab, f)
    return q, (f"split brain: {p['full']} and {q['full']} see each other StandAlone "
               f"(victim {q['full']}: disconnect; secondary; connect --discard-my-data; "
               f"then connect on {p['full']})"), {"primary": p["full"]}


def sim_key(a, b):
    return "|".join(sorted([a["full"], b["full"]]))


def inj_drbd_peer_down(lab, target):
    p = ldap_node(lab)
    if target:
        q = site.by_name(lab, target)
    else:
        cand = [h for h in site.hives_of(lab) if not p or h["full"] != p["full"]]
        q = cand[-1]
    # `drbdadm down` as an operator would; stopping the unit would also stop docker.service,
    # which requires it (as on a real hive)
    sx(q, f"drbdadm down {lab['volume']}")
    return q, (f"{lab['volume']} is down on {q['full']} (drbdadm down); "
               "peers show connection:Connecting"), {}


FAULTS = [
    Fault("drbd:outdated", inj_drbd_outdated, heal_drbd,
          "service scaled to 0, every hive Secondary/Outdated"),
    Fault("drbd:one-sided", inj_drbd_one_sided, heal_drbd,
          "Primary shows WFBitMapS/Consistent for a peer whose view is clean [peer]"),
    Fault("drbd:split-brain", inj_drbd_split_brain, heal_drbd,
          "split brain: Primary and a peer see each other StandAlone [peer]"),
    Fault("drbd:peer-down", inj_drbd_peer_down, heal_drbd,
          "resource down on one hive (unit stopped); peers see Connecting"),
]
