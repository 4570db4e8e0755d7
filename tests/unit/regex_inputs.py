"""Adversarial inputs for a regular expression, derived from the expression itself.

A regex is slow on text that matches a long way and then fails, again from each of many start
positions: a literal part of it repeated ("docker login docker login ..."), a run of what one of
its classes takes ("    ..."), the characters it treats specially in alternation ('"\\"\\"\\...'
for a quoted-string rule). inputs(pattern, size) builds such texts from the parsed expression:
every prefix of its sequence of parts, repeated with and without a separator, followed by a long
run of the next part, and pairs of its punctuation repeated.
"""
from __future__ import annotations

import re

try:                                # the parser pytest's Python ships: re._parser from 3.11
    from re import _constants as C, _parser as P
except ImportError:                 # 3.10
    import sre_constants as C       # type: ignore[no-redef]
    import sre_parse as P           # type: ignore[no-redef]

_CANDIDATES = "a1 -_.:/=\"'\\\t\n@,;%{}[]()<>!#$&*+?|~^`"
_CATEGORY = {C.CATEGORY_DIGIT: "1", C.CATEGORY_NOT_DIGIT: "a", C.CATEGORY_SPACE: " ",
             C.CATEGORY_NOT_SPACE: "a", C.CATEGORY_WORD: "a", C.CATEGORY_NOT_WORD: " ",
             C.CATEGORY_LINEBREAK: "\n", C.CATEGORY_NOT_LINEBREAK: "a"}


def _in_set(items, c: str) -> bool:
    negate, hit = False, False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            hit |= ord(c) == av
        elif op is C.RANGE:
            hit |= av[0] <= ord(c) <= av[1]
        elif op is C.CATEGORY:
            hit |= bool(re.fullmatch(_category_re(av), c))
    return hit != negate


def _category_re(cat) -> str:
    return {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
            C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W",
            C.CATEGORY_LINEBREAK: r"\n", C.CATEGORY_NOT_LINEBREAK: r"."}.get(cat, r"\w")


def _members(items) -> list[str]:
    """Characters of a class, the most telling first (its own literals, then common ones)."""
    own = [chr(av) for op, av in items if op is C.LITERAL]
    own += [chr(av[0]) for op, av in items if op is C.RANGE]
    return [c for c in dict.fromkeys(own + list(_CANDIDATES)) if _in_set(items, c)]


def _parts(items, variant: int) -> list[str]:
    """The expression as a sequence of short texts, one per part; `variant` picks which
    alternative of every branch (the last one when a branch has fewer)."""
    out: list[str] = []
    for op, av in items:
        if op is C.LITERAL:
            out.append(_Literal(chr(av)))
        elif op is C.NOT_LITERAL:
            out.append(next(c for c in _CANDIDATES if ord(c) != av))
        elif op is C.ANY:
            out.append("a")
        elif op is C.IN:
            members = _members(av)
            if members:
                out.append(members[min(variant, len(members) - 1)])
        elif op is C.CATEGORY:
            out.append(_CATEGORY.get(av, "a"))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) or str(op) == "POSSESSIVE_REPEAT":
            lo, hi, sub = av
            out += _parts(sub, variant) * max(1, min(lo, 3))
        elif op is C.SUBPATTERN:
            out += _parts(av[-1], variant)
        elif str(op) == "ATOMIC_GROUP":
            out += _parts(av, variant)
        elif op is C.BRANCH:
            alts = av[1]
            out += _parts(alts[min(variant, len(alts) - 1)], variant)
        elif op is C.ASSERT and av[0] == 1:        # a lookahead: what must follow here
            out += _parts(av[1], variant)
        elif op is C.GROUPREF_EXISTS:
            out += _parts(av[1], variant)
        # anchors, lookbehinds, negative lookarounds, back references: nothing to add
    return out


class _Literal(str):
    """A character the expression spells out (not one picked from a class)."""


def _runs(parts: list[str]) -> list[str]:
    """Adjacent literal letters and digits merged into words ("d","o","c" -> "doc")."""
    merged: list[str] = []
    glue = False
    for p in parts:
        word = isinstance(p, _Literal) and p.isalnum()
        if merged and word and glue:
            merged[-1] += p
        else:
            merged.append(str(p))
        glue = word
    return merged


def _fill(unit: str, size: int) -> str:
    return (unit * (size // max(1, len(unit)) + 1))[:size] if unit else ""


def recipes(pattern: re.Pattern) -> list[tuple[str, str]]:
    """The inputs for `pattern`, each as (head, unit): the text is head followed by unit
    repeated to the size wanted."""
    tree = P.parse(pattern.pattern, pattern.flags)
    items = list(tree)
    found: dict[tuple[str, str], None] = {}
    punct: dict[str, None] = {}
    for variant in range(3):
        seq = _runs(_parts(items, variant))
        for c in "".join(seq):
            if not c.isalnum():
                punct[c] = None
        steps = sorted({*range(1, min(len(seq), 6) + 1), *range(6, len(seq) + 1, max(1, len(seq) // 4)), len(seq)})
        for k in steps:
            prefix = "".join(seq[:k])
            for sep in ("", " ") + (("\n",) if k == len(seq) else ()):
                found["", prefix + sep] = None
            if k < len(seq):
                found[prefix, seq[k]] = None
        for p in seq:
            found["", p] = None
    marks = list(punct)[:6]
    for a in marks:
        for b in marks + ["a"]:
            if a != b:
                found["", a + b] = None
    return [r for r in found if r[1]]


def text(recipe: tuple[str, str], size: int) -> str:
    head, unit = recipe
    return head + _fill(unit, size - len(head))


def inputs(pattern: re.Pattern, size: int):
    """The adversarial texts for `pattern` (see recipes), one at a time."""
    for recipe in recipes(pattern):
        yield text(recipe, size)
