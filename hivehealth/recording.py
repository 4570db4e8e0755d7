"""--record DIR saves what every server answered; --replay DIR checks such a recording without
any server (a support bundle from another site, or test data). Recordings hold no secrets:
outputs go through the same redaction as the audit log, and no key or password file is read."""
from __future__ import annotations

import json
from pathlib import Path

from .gather import HostFacts
from .inventory import InventoryError, Site
from .redact import Redactor

FORMAT = 1


def save(directory: str, site: Site, facts: dict[str, HostFacts]):
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    redact = Redactor.for_site(site)
    (out / "site.json").write_text(json.dumps({"format": FORMAT, "site": site.to_dict()}, indent=1))
    for name, f in facts.items():
        d = f.to_dict()
        for r in d["results"].values():
            r["stdout"], r["stderr"] = redact(r["stdout"]), redact(r["stderr"])
        if d["unreachable"]:
            d["unreachable"] = redact(d["unreachable"])
        (out / f"host-{name}.json").write_text(json.dumps(d, indent=1))


def load(directory: str) -> tuple[Site, dict[str, HostFacts]]:
    src = Path(directory)
    meta = src / "site.json"
    try:
        doc = json.loads(meta.read_text())
    except FileNotFoundError:
        raise InventoryError(meta, "not found: not a hive-health recording (made with --record)") from None
    except ValueError as e:
        raise InventoryError(meta, f"not valid JSON: {e}") from None
    if doc.get("format") != FORMAT:
        raise InventoryError(meta, f"recording format {doc.get('format')!r}, this version reads {FORMAT}")
    site = Site.from_dict(doc["site"])
    facts = {}
    for server in site.servers:
        path = src / f"host-{server.name}.json"
        try:
            facts[server.name] = HostFacts.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            facts[server.name] = HostFacts(server.name, unreachable="not in the recording")
        except (ValueError, KeyError) as e:
            raise InventoryError(path, f"broken recording: {e}") from None
    return site, facts
