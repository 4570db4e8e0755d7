"""A check's verdict becomes its test's outcome: the `verify` fixture's function, and what the
reports show of a verdict (the item's user_properties)."""
from __future__ import annotations

import pytest

from hivehealth import redact
from hivehealth.judge.verdict import FAIL, SKIP, UNKNOWN, WARN, Verdict
from hivehealth.remedy import plan as remedy_plan
from hivehealth.report import page


def verifier(request, state):
    """The function a check calls as verify(evaluate, obj): runs evaluate(ctx, obj) on the
    gathered facts and turns the verdict into the test's outcome. With --fix a failing verdict
    goes to its remedy first (hivehealth.remedy.runner)."""

    def run(evaluate, obj):
        verdict = state.context().judge(evaluate, obj)
        hook = request.config.pluginmanager.get_plugin("hivehealth-remedy")
        if hook is not None and verdict.status in (FAIL, UNKNOWN):
            verdict = hook.remedy(request, state, evaluate, obj, verdict)
        extra = {}
        if verdict.status == FAIL:      # what --fix would plan for the state as it is now
            extra["remedies"] = remedy_plan.applicable(request, state.context(), evaluate, obj, verdict)
            down = getattr(state.facts.get(getattr(obj, "name", None)), "unreachable", None)
            for planned in extra["remedies"] if down else ():
                planned["refused"] = f"{obj.name} is unreachable ({down}): reach it first"
        record(request.node, verdict, check=evaluate.__name__, **extra)
        if verdict.status == SKIP:
            pytest.skip(redact.redact("; ".join(verdict.problems)))
        if verdict.status == WARN and not request.config.option.gate:
            return
        if not verdict.ok:
            pytest.fail(verdict.full_report(), pytrace=False)
    return run


def record(item, verdict: Verdict, **extra):
    """What the reports show of a verdict; the runbook sections are those the check's module
    cites on its docstring's first line."""
    module = getattr(item, "module", None)
    entry = {"subject": verdict.subject, "status": verdict.status, "problems": verdict.problems,
             "alert": verdict.alert, "notes": verdict.notes,
             "runbook": page.runbook_refs(getattr(module, "__doc__", None)),
             "evidence": [e.render() for e in verdict.evidence], **extra}
    item.user_properties.append(("hivehealth", entry))
