"""The hostkeys area's input: the reason the SSH transport gives for not reaching a server
(hivehealth.site.transport), which names a refused host key as `host key of <server> ...`."""
from __future__ import annotations


def refused_host_key(unreachable: str) -> str | None:
    """What was refused, when the reason is a refused host key (changed, or never accepted),
    without the recovery advice the transport appends to it (the check gives the runbook's
    whole recovery instead); None for any other reason."""
    if "host key of" not in unreachable:
        return None
    return unreachable.split(" Runbook FAQ")[0].split(" (runbook")[0].strip().rstrip(".")
