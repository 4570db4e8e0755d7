"""Swarm services as the managers list them, and their specs (`docker service inspect`)."""
from __future__ import annotations

from dataclasses import dataclass

from hivehealth.judge.cluster import manager_answers, no_manager_answered
from hivehealth.parsers import ParseError, json_loads
from hivehealth.parsers import docker as dockerp


@dataclass
class ServiceSpec:
    name: str
    replicas: int | None            # None for global services
    volumes: list[str]
    constraints: list[str]          # placement constraints, e.g. "node.role == manager"


def service_specs(ctx) -> list[ServiceSpec]:
    answers = manager_answers(ctx, "service_specs")
    if not answers:
        return []
    specs = []
    for line in answers[0][1].stdout.splitlines():
        try:
            spec = json_loads(line)
        except ValueError:
            continue
        mode = spec.get("Mode") or {}
        replicas = (mode.get("Replicated") or {}).get("Replicas") if "Replicated" in mode else None
        task = spec.get("TaskTemplate") or {}
        mounts = (task.get("ContainerSpec") or {}).get("Mounts") or []
        specs.append(ServiceSpec(spec.get("Name", "?"), replicas,
                                 [m.get("Source") for m in mounts if m.get("Type", "volume") == "volume"],
                                 (task.get("Placement") or {}).get("Constraints") or []))
    return specs


def service_spec(ctx, name: str) -> ServiceSpec | None:
    return next((s for s in service_specs(ctx) if s.name == name), None)


def service_using_volume(ctx, volume: str) -> ServiceSpec | None:
    return next((s for s in service_specs(ctx) if volume in s.volumes), None)


def listed_service(ctx, v, name: str, cite: bool = True):
    """(manager, Service) as the first answering manager lists `name`, or None after telling
    the verdict why not (no manager answered, unreadable output, no such service)."""
    answers = manager_answers(ctx, "services")
    if not answers:
        v.fail(no_manager_answered(ctx, "services", "docker service ls"))
        return None
    manager, r = answers[0]
    if cite:
        v.cite(manager, r)
    try:
        services = dockerp.parse_services(r.stdout)
    except ParseError as e:
        # a manager answered, but not readably: unknown, not "no manager"
        v.unknown(str(e))
        return None
    svc = next((s for s in services if s.name == name), None)
    if svc is None:
        v.fail(f"no longer listed by {manager}")
        return None
    return manager, svc
