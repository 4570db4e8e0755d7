"""FAQ 7.26: replicated services concentrated on one node: `docker service update --force`.

Risky: the forced update restarts every task of the service (rolling, one at a time with the
service's update config), which the scheduler then places over the eligible nodes.
It runs on a manager that answered (first_hive first).
"""
from hivehealth.checks.test_spread import service_spread
from hivehealth.remedy import names
from hivehealth.remedy.plan import RISKY, Cmd, Plan, Step, remedy


@remedy(service_spread, tier=RISKY)
def rebalance_service(ctx, name, verdict):
    """FAQ 7.26: docker service update --force <svc> restarts its tasks so swarm spreads them."""
    manager = verdict.data.get("manager")
    eligible = verdict.data.get("eligible") or []
    if not manager or len(eligible) < 2 or len(verdict.data.get("nodes", [])) != 1:
        return None
    name = names.service(name)
    return Plan(steps=[
        Step(manager, Cmd("docker", "service", "update", "--force", "--quiet", name, root=True),
             f"FAQ 7.26: restart the tasks of {name} so swarm places them over "
             f"{', '.join(eligible)}", wait=180)], settle=5)
