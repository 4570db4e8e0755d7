"""Runbook 7.3: registry bloat."""
from hivehealth.checks.test_registry import registry_size
from hivehealth.remedy.plan import DESTRUCTIVE, RISKY, Cmd, Plan, Step, all_of, remedy

CONFIG = "/etc/docker/registry/config.yml"


@remedy(registry_size, tier=RISKY)
def registry_garbage_collect(ctx, server, verdict):
    """Garbage-collect blobs no manifest references (https://hive-builder.readthedocs.io/ja/latest/develop.html).
    Pushes during the run can lose layers, so it is risky."""
    gc = Cmd("docker", "exec", "registry", "registry", "garbage-collect", "-m", CONFIG, root=True)
    return Plan(steps=[Step(server.name, gc,
                            "hive-builder's develop page: delete unreferenced and untagged blobs")])


@remedy(registry_size, tier=DESTRUCTIVE)
def registry_wipe(ctx, server, verdict):
    """Runbook 7.3: delete every image and start an empty registry; hive build-images then
    pushes them again. Images in use can no longer be pulled until then."""
    # registry/ in the login's home is the compose project (the step runs from the home directory)
    return Plan(steps=[Step(server.name, all_of(Cmd("cd", "registry"),
                                                Cmd("docker", "compose", "down", "-v", root=True),
                                                Cmd("docker", "compose", "up", "-d", root=True)),
                            "runbook 7.3: wipe registry_regdata and start an empty registry")],
                notes=["on the mother: hive build-images (pushes every image again)"])
