"""The suite's checks: one module per area, test_<area>.py, holding what the area reads from
the servers (its probe sections), its judgement (a check function returning a Verdict) and its
test function. Adding a module here adds the area: nothing else lists it."""
from __future__ import annotations

import importlib
import pkgutil


def modules() -> list:
    """Every check module of the package, imported (which declares its sections)."""
    return [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)
            if m.name.startswith("test_")]
