"""Test ids made from site text (server names, drbd_device_map keys, services, nodes).

A test id reaches the terminal, `-k`, the JSON report, Prometheus labels and pytest-html, which
writes it into the page as markup. So an id keeps the characters names are usually made of and
writes every other character visibly as URL-style escapes of its UTF-8 bytes (`<` is `%3C`): the
id holds no markup, no control character, no `[`, `]` or `::` that would confuse pytest's node
ids, and `from_id` gives the exact name back. Ordinary names (s-hive0.lab, ldap_data) are
unchanged. (Not pytest's own `\\x..` style: pytest escapes backslashes in ids again.)
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote

# letters, digits, and the punctuation hive-builder, docker and DRBD names use; the parentheses
# are for the engine's own placeholders, e.g. "(no-manager-answered)"
_KEEP = "_.-()"
EMPTY = "%"         # an empty name; a non-empty one never gives a lone "%"


def safe_id(text) -> str:
    text = str(text)
    return quote(text, safe=_KEEP, errors="surrogatepass") if text else EMPTY


def from_id(ident: str) -> str:
    """The name safe_id made `ident` from."""
    return "" if ident == EMPTY else unquote(ident, errors="surrogatepass")


SUITE_CHECKS = "hivehealth/checks/"


def check_id(nodeid: str, path=None) -> str:
    """The id a check is known by in reports, history, waivers and the audit log.

    pytest's node id of a suite check depends on where the package is and which directory is the
    rootdir (`hivehealth/checks/test_disk.py::...` in a checkout, `test_disk.py::...` for plain
    `pytest` in a hive project); its check id is always `checks/test_disk.py::test_disk[...]`, so
    history and waivers keep their keys wherever the suite runs from. `path` is the test file
    (item.path), which tells where the check lives when the node id does not. Other node ids are
    left as they are."""
    where, sep, rest = nodeid.partition("::")
    if path is not None:
        where = Path(path).as_posix()
    at = where.rfind(SUITE_CHECKS)
    if at < 0 or (at > 0 and where[at - 1] != "/"):
        return nodeid
    return where[at + len("hivehealth/"):] + sep + rest


def item_check_id(item) -> str:
    return check_id(item.nodeid, getattr(item, "path", None))
