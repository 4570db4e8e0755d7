"""The runbook's remedies: one module per area, named like the area's check module
(fixes/disk.py answers checks/test_disk.py); each remedy is a pytest fixture declared with
`@remedy(<check function>, tier=...)`. Adding a module here adds its remedies: nothing else
lists it."""
from __future__ import annotations

import importlib
import pkgutil


def modules() -> list:
    """Every fix module of the package, imported (which declares its remedies)."""
    return [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
