"""Swarm service specs (`docker service inspect --format '{{json .Spec}}'`), for remedies."""
from __future__ import annotations

import json
from dataclasses import dataclass

from .objects import manager_answers


@dataclass
class ServiceSpec:
    name: str
    replicas: int | None            # None for global services
    volumes: list[str]


def service_specs(ctx) -> list[ServiceSpec]:
    answers = manager_answers(ctx, "service_specs")
    if not answers:
        return []
    specs = []
    for line in answers[0][1].stdout.splitlines():
        try:
            spec = json.loads(line)
        except ValueError:
            continue
        mode = spec.get("Mode") or {}
        replicas = (mode.get("Replicated") or {}).get("Replicas") if "Replicated" in mode else None
        mounts = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Mounts") or []
        specs.append(ServiceSpec(spec.get("Name", "?"), replicas,
                                 [m.get("Source") for m in mounts if m.get("Type", "volume") == "volume"]))
    return specs


def service_spec(ctx, name: str) -> ServiceSpec | None:
    return next((s for s in service_specs(ctx) if s.name == name), None)


def service_using_volume(ctx, volume: str) -> ServiceSpec | None:
    return next((s for s in service_specs(ctx) if volume in s.volumes), None)
