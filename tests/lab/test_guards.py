"""A guard that cannot see a server refuses, on the real lab: with the last hive unreachable the
xfs_repair of a looping service's volume is refused naming it, and nothing is run."""
from test_routines import SERVICE, audited


def test_xfs_repair_refused_while_a_hive_cannot_be_seen(suite, fault):
    fault("services:xfs-corrupt")
    fault("unreachable:ssh-timeout")          # the last hive: s-hive2.lab
    before = audited(suite, "xfs_repair"), audited(suite, "scale -d ldap=0")
    r = suite.run("--fix", "--allow-risky", "-k", "service")
    message = r.failed()[SERVICE]
    assert "repair_corrupt_volume refused: cannot see whether /dev/drbd1 is mounted on s-hive2.lab (unreachable" \
        in message, r
    assert (audited(suite, "xfs_repair"), audited(suite, "scale -d ldap=0")) == before, "a step ran"
