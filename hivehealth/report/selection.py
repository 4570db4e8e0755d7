"""What a run selected of the suite's checks: the whole suite, or a part of it (PARTIAL).

A verdict covers exactly what ran. A run narrowed by -k, -m, --alert, --lf, --deselect, node
ids or paths, or to hosts given with --hosts, is partial: its reports are written apart from
the full run's (`latest-partial.*`), its page and JSON say what was selected and how many of
the collected checks ran, and the history marks it so that it never stands for the site.

Counting runs in the process that collects: pytest's own deselection (-k, -m, --lf) reports the
items it drops through pytest_deselected. With -n, the workers collect; each one hands its
count to the controlling process in its workeroutput.
"""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

WORKER_KEY = "hivehealth-deselected"


def _quoted(option: str, value) -> str:
    return f"{option} {shlex.quote(str(value))}"


def terms_of(config, suite_dir: Path) -> tuple[list[str], bool]:
    """The options and paths of this run that select a part of the suite, as the operator typed
    them, and whether they narrow what is collected (paths, node ids, --hosts), so that the
    suite's full count is unknown. Call before --alert has narrowed the keyword
    (hivehealth.judge.alerts.select)."""
    o = config.option
    terms = []
    if getattr(o, "keyword", ""):
        terms.append(_quoted("-k", o.keyword))
    if getattr(o, "markexpr", ""):
        terms.append(_quoted("-m", o.markexpr))
    if getattr(o, "alert", None) is not None:
        terms.append(_quoted("--alert", o.alert))
    if getattr(o, "lf", False):
        terms.append("--lf")
    for item in getattr(o, "deselect", None) or []:
        terms.append(_quoted("--deselect", item))
    narrowed = False
    if getattr(o, "hosts", None):
        terms.append(_quoted("--hosts", o.hosts))
        narrowed = True
    base = Path(config.invocation_params.dir)
    for arg in config.args:
        if (base / str(arg).split("::", 1)[0]).resolve() != suite_dir.resolve() or "::" in str(arg):
            terms.append(shlex.quote(str(arg)))
            narrowed = True
    return terms, narrowed


class Selection:
    """A pytest plugin: counts what this run collected and deselected."""

    def __init__(self, terms: list[str], narrowed: bool):
        self.terms = terms
        # the set of checks itself is narrowed (node ids, paths, --hosts): the full count is unknown
        self.narrowed = narrowed
        self.selected: int | None = None
        self.deselected = 0

    @property
    def partial(self) -> bool:
        return self.narrowed or self.deselected > 0

    @property
    def collected(self) -> int | None:
        if self.selected is None or self.narrowed:
            return None
        return self.selected + self.deselected

    @property
    def empty(self) -> bool:
        """A selection that kept nothing of what was collected."""
        return self.selected == 0 and bool(self.terms or self.deselected)

    def pytest_deselected(self, items):
        self.deselected += len(items)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        self.selected = len(session.items)
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_KEY] = self.deselected

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self.selected = len(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        self.deselected = max(self.deselected, int(getattr(node, "workeroutput", {}).get(WORKER_KEY, 0)))

    def counts(self) -> str:
        """`4 of 55 checks`, or `4 checks` when the full count is unknown."""
        n = self.selected or 0
        checks = "check" if n == 1 and self.collected is None else "checks"
        return f"{n} of {self.collected} checks" if self.collected is not None else f"{n} {checks}"

    def describe(self) -> str:
        """One line for the page, the terminal and the history: what was selected."""
        by = " ".join(self.terms) if self.terms else "deselected items"
        return f"{self.counts()}, selected by {by}"

    def to_dict(self) -> dict:
        return {"partial": self.partial, "selected": self.selected, "of": self.collected,
                "by": list(self.terms)}
