"""The registry_api area's probe output: one `key value` line each (mode, url, user, curl, code)."""
from __future__ import annotations


def parse_registry_probe(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return out
