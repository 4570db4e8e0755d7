"""--record DIR saves what every server answered; --replay DIR checks such a recording without
any server (a support bundle from another site, or test data). Recordings hold no secrets:
outputs go through the same redaction as every output (JSON outputs as JSON, so they still
replay), and no key or password file is read. The files are private (hivehealth.files)."""
from __future__ import annotations

import json
from pathlib import Path

from .gather import HostFacts
from .inventory import InventoryError, Site
from .files import private_dir, write_atomic
from .redact import redact_output, redact_tree

FORMAT = 1


def save(directory: str, site: Site, facts: dict[str, HostFacts]):
    out = private_dir(directory)
    write_atomic(out / "site.json", json.dumps({"format": FORMAT, "site": site.to_dict()}, indent=1))
    for name, f in facts.items():
        if "/" in name or "\0" in name:
            raise InventoryError(out, f"cannot record server {name!r}: its name is not a file name")
        d = f.to_dict()
        results = d.pop("results")
        d = redact_tree(d)          # the unreachable reason
        d["results"] = {k: dict(redact_tree({x: y for x, y in r.items() if x not in ("stdout", "stderr")}),
                                stdout=redact_output(r["stdout"]), stderr=redact_output(r["stderr"]))
                        for k, r in results.items()}
        write_atomic(out / f"host-{name}.json", json.dumps(d, indent=1))


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
