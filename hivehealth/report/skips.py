"""How a skipped item reads (terminal, pytest-html): the check and its object, then the reason
on one line, not the engine's file and line where pytest.skip was called:
`SKIPPED [1] hostkeys s-hive0.lab: no known_hosts to check`."""
from __future__ import annotations

from hivehealth.ids import from_id


def _names(item) -> tuple[str | None, str | None]:
    """(the subject its verdict named, the object it was parametrized with)."""
    subject = next((v.get("subject") for k, v in item.user_properties if k == "hivehealth"), None)
    spec = getattr(item, "callspec", None)
    obj = from_id(spec.id) if spec and spec.id not in ("", "none") else None
    return subject, obj


def skip_label(item) -> str:
    check = getattr(item, "originalname", item.name).removeprefix("test_")
    subject, obj = _names(item)
    return f"{check} {subject or obj or ''}".strip()


def skip_reason(item, text: str) -> str:
    """One line, without the names skip_label already gives (the subject, the object)."""
    text = " ".join(text.removeprefix("Skipped: ").split())
    for name in filter(None, _names(item)):
        if text.startswith(f"{name}: "):
            text = text[len(name) + 2:]
    return text
