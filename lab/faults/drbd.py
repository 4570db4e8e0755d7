"""Lab faults of the area drbd: the DRBD resource of the ldap volume, through the DRBD simulation
(checks/test_drbd.py)."""
from .. import site
from . import Fault
from .site_ops import drbd_reset, ldap_node, sim_update, stop_service, sx


def inj_drbd_outdated(lab, target):
    stop_service(lab)

    def f(res, now):
        # as `down`, `outdate`, `up` on every hive leave it: one generation, every copy Outdated
        first = res["local"][res["nodes"][0]]
        for n in res["nodes"]:
            res["local"][n].update(disk="Outdated", primary=False, gen=first["gen"],
                                   hist=list(first["hist"]))
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
    sim = site.drbdsim()
    sim_update(lab, lambda res, now: sim.make_split_brain(res, p["full"], q["full"], now))
    return q, (f"split brain: {p['full']} and {q['full']} see each other StandAlone, "
               f"{q['full']} Outdated with writes of its own (victim {q['full']}: disconnect; "
               f"secondary; connect --discard-my-data; then on {p['full']}: "
               f"connect {lab['volume']}:{q['full']})"), {"primary": p["full"]}


def inj_drbd_standalone_one_sided(lab, target):
    p = ldap_node(lab) or site.first_hive(lab)
    others = [h for h in site.hives_of(lab) if h["full"] != p["full"]]
    q = site.by_name(lab, target) if target else others[-1]
    # what an operator types: one connection of the resource, on one end
    sx(q, f"drbdadm disconnect {lab['volume']}:{p['full']}")
    return q, (f"{q['full']} ran `drbdadm disconnect {lab['volume']}:{p['full']}`: StandAlone to "
               f"{p['full']} only, {p['full']} Connecting (fix: connect that link on "
               f"{q['full']})"), {"primary": p["full"]}


def inj_drbd_reconnect_race(lab, target):
    def f(res, now):
        res["race"] = {"armed": True}
    sim_update(lab, f)
    return None, ("armed: after the next `primary --force`, the second Secondary whose "
                  "whole-resource disconnect && connect follows ends in split brain with the "
                  "first (StandAlone both ways, as real DRBD 9.2 once did)"), {}


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
          "split brain: Primary and a peer see each other StandAlone, the peer Outdated [peer]"),
    Fault("drbd:peer-down", inj_drbd_peer_down, heal_drbd,
          "resource down on one hive (unit stopped); peers see Connecting"),
    Fault("drbd:standalone-one-sided", inj_drbd_standalone_one_sided, heal_drbd,
          "a peer disconnected its link to the Primary only (StandAlone one side, no split brain) [peer]"),
    Fault("drbd:reconnect-race", inj_drbd_reconnect_race, heal_drbd,
          "after primary --force, two Secondaries' disconnect && connect split-brain them"),
]
