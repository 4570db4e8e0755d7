"""Test ids made from site text (server names, drbd_device_map keys, services, nodes).

A test id reaches the terminal, `-k`, the JSON report, Prometheus labels and pytest-html, which
writes it into the page as markup. So an id keeps the characters names are usually made of and
writes every other character visibly as URL-style escapes of its UTF-8 bytes (`<` is `%3C`): the
id holds no markup, no control character, no `[`, `]` or `::` that would confuse pytest's node
ids, and `from_id` gives the exact name back. Ordinary names (s-hive0.lab, ldap_data) are
unchanged. (Not pytest's own `\\x..` style: pytest escapes backslashes in ids again.)
"""
from __future__ import annotations

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
