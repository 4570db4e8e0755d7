"""No text a server sends can stall the run: every regular expression of the suite finishes on
hostile input of output-cap size.

The expressions are collected, not listed: every compiled pattern a module of hivehealth holds
(also inside tables such as the redaction rules), and every literal pattern passed to a `re`
function in its source. A new expression is covered without being named here; one built at run
time from other text has to be named in DYNAMIC with a builder of a representative, or the
test fails.

Each expression runs, in a forked child bounded to CPU_SECONDS of CPU time (not wall time: a
busy machine does not fail it) and MEMORY beyond its own, on inputs derived from its own parts
(regex_inputs: its literal prefix repeated, runs of what its classes take, pairs of its
punctuation) of SIZE characters each: searched from every position (finditer) unless the suite
only ever matches it at one (.match, .fullmatch), and matched whole. A linear expression takes
well under a second per input; a quadratic one minutes (the old `docker login` redaction rule:
127 s on 256 KiB); a repeated group keeps a record per repetition, which the memory bound
catches. The entry points that redact and parse server text also run on the hostile inputs
known to have stalled them, at the output cap itself (section_output_max, 8 MiB).
"""
from __future__ import annotations

import ast
import importlib
import multiprocessing
import os
import pkgutil
import re
import resource
import signal
from pathlib import Path

import pytest

import hivehealth
from hivehealth.gather.probe import OUTPUT_MAX
from regex_inputs import recipes, text

SIZE = 2 ** 20          # a quadratic expression takes minutes here; a linear one a fraction of a second
CPU_SECONDS = 60        # for all inputs of one expression: "does not hang", not a benchmark
MEMORY = 64 * 2 ** 20   # beyond the child's own, for one input of SIZE
WALL_SECONDS = 900      # only so that a child that cannot even use its CPU time ends
_RE_FUNCS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}


def _modules():
    for info in pkgutil.walk_packages(hivehealth.__path__, "hivehealth."):
        yield importlib.import_module(info.name)


SEARCH, ANCHORED = "search", "anchored"     # searched from every position; matched at one
_ANCHORED_USES = {"match", "fullmatch"}


def _held(value, where: str, out: dict, mode: str, depth: int = 0):
    """The patterns a module's name holds: itself, or inside a table or one of the suite's
    objects (e.g. a redaction pass holding the pattern it searches with)."""
    if isinstance(value, re.Pattern):
        out.setdefault((value.pattern, value.flags), (where, value, mode))
    elif depth >= 3:
        return
    elif isinstance(value, (list, tuple, dict)):
        for i, v in enumerate(value.values() if isinstance(value, dict) else value):
            _held(v, f"{where}[{i}]", out, SEARCH, depth + 1)
    elif type(value).__module__.startswith("hivehealth.") and hasattr(value, "__dict__") \
            and not isinstance(value, type):
        for attr, v in vars(value).items():
            _held(v, f"{where}.{attr}", out, SEARCH, depth + 1)


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")[:len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(parts + ([node.module] if node.module else []))


def _uses(modules) -> dict:
    """(module, name) -> how the suite's code uses that module-level name: the methods called
    on it (`NAME.match(...)` -> "match"), "other" for any other use (passed on, stored)."""
    uses: dict = {}
    for module in modules:
        tree = ast.parse(Path(module.__file__).read_text())
        is_package = module.__file__.endswith("__init__.py")
        alias = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(module.__name__, node, is_package)
                for a in node.names:
                    alias[a.asname or a.name] = (source, a.name)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Name) or isinstance(node.ctx, ast.Store):
                continue
            owner = alias.get(node.id, (module.__name__, node.id))
            parent = parents.get(node)
            kind = "other"
            if isinstance(parent, ast.Attribute) and isinstance(parents.get(parent), ast.Call) \
                    and parents[parent].func is parent:
                kind = parent.attr
            uses.setdefault(owner, set()).add(kind)
    return uses


def _enclosing(tree) -> dict:
    """Each node of a module's AST -> the name of the function it is in."""
    names = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                names.setdefault(node, fn.name)
    return names


def _literal_calls(module, out: dict, dynamic: set):
    """re.<func>(<literal>, ...) calls in a module's source, compiled; the sites of re.<func>
    calls whose pattern is built at run time, as (module, function)."""
    tree = ast.parse(Path(module.__file__).read_text())
    within = _enclosing(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in _RE_FUNCS and node.args):
            continue
        arg = node.args[0]
        site = f"{module.__name__}:{within.get(node, '<module>')}"
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            flags = 0
            flag_node = next((k.value for k in node.keywords if k.arg == "flags"), None)
            if flag_node is None and node.func.attr in ("compile", "search", "match", "fullmatch",
                                                        "findall", "finditer") and len(node.args) > 2:
                flag_node = node.args[2]
            if node.func.attr == "compile" and len(node.args) > 1:
                flag_node = node.args[1]
            if flag_node is not None:
                flags = eval(compile(ast.Expression(flag_node), "<flags>", "eval"), {"re": re})  # noqa: S307 (our source)
            pattern = re.compile(arg.value, flags)
            mode = ANCHORED if node.func.attr in _ANCHORED_USES else SEARCH
            out.setdefault((pattern.pattern, pattern.flags), (f"{site} line {node.lineno}", pattern, mode))
        elif site.endswith(":<module>"):
            continue            # compiled at import: held by the module, collected from its names
        else:
            dynamic.add(site)


def _default_units_ignore():
    from hivehealth.options import INI_LINES
    return [(re.compile(p), SEARCH) for p in INI_LINES["units_ignore"][1]]


def _ssh_glob():
    from hivehealth.site.ssh_config import _glob_rx
    return [(_glob_rx(g), ANCHORED) for g in ("s-hive*.lab", "*", "10.0.?.*")]


def _history_server_names():
    from hivehealth.report.history_db import _mention
    return [(_mention("s-hive0.lab"), SEARCH), (_mention("s-hive0"), SEARCH)]


# Expressions built at run time: (module:function) -> representatives of what it builds, with
# how they are applied. The operator's own (units_ignore in pytest.ini) by their defaults.
DYNAMIC = {
    "hivehealth.checks.test_units:failed_units": _default_units_ignore,
    "hivehealth.site.ssh_config:_glob_rx": _ssh_glob,
    "hivehealth.report.history_db:_mention": _history_server_names,
}


def collect() -> tuple[dict, set]:
    """{(pattern, flags): (where, pattern, mode)} for every expression of the suite, and the
    sites that build one at run time. A module-level pattern is ANCHORED when the suite only
    ever calls .match or .fullmatch on it, else searched from every position."""
    found: dict = {}
    dynamic: set = set()
    modules = list(_modules())
    uses = _uses(modules)
    for module in modules:
        for name, value in vars(module).items():
            used = uses.get((module.__name__, name), set())
            mode = ANCHORED if used and used <= _ANCHORED_USES else SEARCH
            _held(value, f"{module.__name__}.{name}", found, mode)
        _literal_calls(module, found, dynamic)
    for site, build in DYNAMIC.items():
        for i, (pattern, mode) in enumerate(build()):
            found.setdefault((pattern.pattern, pattern.flags), (f"{site} (built) #{i}", pattern, mode))
    return found, dynamic


FOUND, DYNAMIC_SITES = collect()


def test_every_pattern_built_at_run_time_has_a_representative():
    missing = sorted(DYNAMIC_SITES - set(DYNAMIC))
    assert not missing, ("expressions built at run time: add each to DYNAMIC with a builder of "
                         f"representative patterns: {missing}")
    stale = sorted(set(DYNAMIC) - DYNAMIC_SITES)
    assert not stale, f"DYNAMIC names sites that build no expression any more: {stale}"


def test_the_collection_sees_the_rules_that_were_slow():
    wheres = [where for where, _, _ in FOUND.values()]
    assert any(w.startswith("hivehealth.redact._NAME_EQUALS.find") for w in wheres)
    assert any("hivehealth.parsers" in w for w in wheres)
    assert len(FOUND) > 60, len(FOUND)


def _exercise(pattern: re.Pattern, mode: str, size: int, progress):
    for i, recipe in enumerate(recipes(pattern)):
        progress.value = i
        subject = text(recipe, size)
        if mode == SEARCH:
            for _ in pattern.finditer(subject):
                pass
        else:
            pattern.match(subject)
        pattern.fullmatch(subject)
    progress.value = -1


def _vm_size() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmSize:\s+(\d+) kB", status, re.M).group(1)) * 1024


def _bounded_child(target, args, cpu_seconds, memory, progress):
    # what the work may take: CPU seconds (not wall time, so a busy machine does not fail it)
    # and memory beyond what the child starts with (a repeated group keeps a record per
    # repetition: on the output cap, gigabytes)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + memory, resource.RLIM_INFINITY))
    try:
        target(*args, progress)
    except MemoryError:
        os._exit(3)


def run_bounded(target, args, describe, cpu_seconds=CPU_SECONDS, memory=MEMORY):
    """target(*args, progress) in a forked child with its CPU time and memory bounded; fails
    naming what it was doing when it went over."""
    ctx = multiprocessing.get_context("fork")
    progress = ctx.Value("i", -2)
    child = ctx.Process(target=_bounded_child, args=(target, args, cpu_seconds, memory, progress), daemon=True)
    child.start()
    child.join(WALL_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
    if child.exitcode == -signal.SIGXCPU or child.exitcode == -signal.SIGKILL:
        pytest.fail(f"more than {cpu_seconds} s of CPU on {describe(progress.value)}")
    if child.exitcode == 3:
        pytest.fail(f"more than {memory // 2 ** 20} MiB of memory on {describe(progress.value)}")
    assert child.exitcode == 0 and progress.value == -1, f"child failed (exit {child.exitcode}) on " \
        f"{describe(progress.value)}"


@pytest.mark.parametrize("key", list(FOUND), ids=[where for where, _, _ in FOUND.values()])
def test_pattern_is_linear(key):
    where, pattern, mode = FOUND[key]

    def describe(i):
        if i < 0:
            return f"building its inputs ({pattern.pattern[:120]!r})"
        head, unit = recipes(pattern)[i]
        return f"input #{i} ({head[:30]!r} + {unit[:30]!r} repeated to {SIZE} characters) of {pattern.pattern[:120]!r}"

    run_bounded(_exercise, (pattern, mode, SIZE), describe)


# --- the entry points, on the hostile inputs known to have stalled them, at the output cap ----

def _cap(unit: str, head: str = "") -> str:
    return head + (unit * (OUTPUT_MAX // len(unit) + 1))[:OUTPUT_MAX - len(head)]


def _entry_points():
    from hivehealth.judge.verdict import Evidence
    from hivehealth.parsers import _json, agent, docker, fs
    from hivehealth.redact import redact, redact_output, visible
    df_head = "Filesystem     Type 1024-blocks  Used Available Capacity Mounted on\n"
    return {
        "redact docker login": (redact, _cap("docker login ")),
        "redact NAME=": (redact, _cap(".pass" * 13 + "=")),
        "redact quoted env": (redact, _cap('"PASSWORD=\\"')),
        "redact --password": (redact, _cap('--password "')),
        "redact header": (redact, _cap("Authorization: '")),
        "redact ldif": (redact, _cap("\n ", "userPassword:: x")),
        "redact PEM body": (redact, _cap("a\\n", "-----BEGIN RSA PRIVATE KEY-----")),
        "redact argv": (redact, _cap(" -p'", "mysql")),
        "redact_output JSON": (redact_output, _cap('"--password", "x", ', "[")),
        "evidence": (lambda t: Evidence.of("h", __import__("hivehealth.gather.probe", fromlist=["x"])
                                           .CommandResult("x", "x", 0, t, "")), _cap("docker login ")),
        "visible": (visible, _cap("\x1b[2J")),
        "mount failure": (docker.local_volume_mount_failure, _cap("failed to mount local volume ")),
        "df row of spaces": (fs.parse_df_posix, df_head + "a" + " " * OUTPUT_MAX + "\n"),
        "avc": (lambda t: agent.AuditRecord("AVC", 0.0, 1, t).summary(), _cap("avc: denied { ")),
        "nan in strings": (lambda t: _json.load(t, "x", lenient_nan=True), _cap('\\"', '"')),
    }


def _call(function, text, progress):
    progress.value = 0
    try:
        function(text)
    except ValueError:
        pass                    # a ParseError is an answer too
    progress.value = -1


ENTRY_POINTS = _entry_points()


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_entry_point_at_the_output_cap(name):
    function, subject = ENTRY_POINTS[name]
    run_bounded(_call, (function, subject), lambda i: f"{name} ({subject[:40]!r}..., {len(subject)} characters)",
                memory=512 * 2 ** 20)
