"""--gate: "is it safe to start maintenance?" answered in one line."""
from __future__ import annotations


def gate_line(entries) -> str:
    """The gate's verdict: READY, or what blocks, in one line."""
    blocking = [e for e in entries if e["outcome"] in ("failed", "error")]
    if not blocking:
        return "GATE: READY for maintenance"
    names = [f"{e.get('subject') or e['id']}: {(e.get('problems') or [e['message']])[0]}" for e in blocking]
    return f"GATE: NOT READY ({len(blocking)} blocking): " + "; ".join(n.splitlines()[0][:160] for n in names)
