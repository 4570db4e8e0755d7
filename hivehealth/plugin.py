"""The pytest plugin: options, site discovery, one gathering per run, parametrization, verdicts.

Flow: pytest_configure finds the site (files only, no network); pytest_sessionstart gathers the
facts of every server once, in the controlling process; xdist workers receive site and facts
through workerinput, so with -n they collect the same items and open connections only for
remedies and re-checks. Checks are pure functions of the facts.
"""
from __future__ import annotations

import getpass
import json
import os
import time
from pathlib import Path

import pytest

from . import objects, recording, redact, remedy, report_page, routines, site_checks
from .context import Context
from .gather import Gatherer, HostFacts
from .gather_more import MORE_INI
from .ids import from_id, safe_id
from .inventory import InventoryError, Site, discover
from .remedy import RemedyPlugin
from .remote import Pool
from .report import JsonReport
from .sizes import parse_size_kib
from .verdict import FAIL, SKIP, UNKNOWN, WARN, Verdict

INI = {
    # name: (help, default)
    "disk_usage_max": ("disk: highest use % of a server's filesystem (zabbix: 80)", "80"),
    "volume_usage_max": ("volumes: highest use % of a DRBD-backed docker volume (zabbix: 90)", "90"),
    "registry_max_size": ("registry: largest registry_regdata, e.g. 20G; empty = 50 % of its filesystem", ""),
    "service_restart_max": ("services: failed tasks within service_restart_window that make a restart loop", "3"),
    "service_restart_window": ("services: seconds of task history a restart loop is counted in", "300"),
    "service_stable_seconds": ("services: seconds a task must stay up to end a restart loop", "30"),
    "service_start_grace": ("services: seconds a task may stay before running (pending, preparing, "
                            "starting...) before it counts as stuck", "300"),
    "command_timeout": ("seconds a remote command may take", "30"),
    "connect_timeout": ("seconds to open an SSH connection", "10"),
    "section_output_max": ("largest output of one command on one server that is kept, e.g. 8M; "
                           "a larger one makes its checks unknown (output too large)", "8M"),
    "fix_lock_wait": ("--fix: seconds to wait for another run's fix to finish", "300"),
    "node_down_grace": ("--fix: seconds a swarm node must be Down before it may be removed", "600"),
    "report_dir": ("where reports are written, relative to the rootdir", "reports"),
    "report_keep_days": ("days of dated reports kept for reports/index.html", "30"),
    "prometheus_textfile": ("write a Prometheus textfile (node_exporter textfile collector) here", ""),
}
INI.update(MORE_INI)      # the thresholds of the checks beyond the runbook
INI_LINES = {
    "units_ignore": ("units: regexes of failed units a site accepts (zabbix's blacklist)",
                     [r"^kdump\.service$", r"^ec2-instance-connect\.service$", r"^cloud-config\.service$",
                      r"^getty@[^.]*\.service$", r"^network\.service$"]),
    "units_not_needed": ("--fix: units to disable --now when failed (runbook 7.6's example)",
                         ["dnf-makecache.timer", "getty@tty1.service"]),
}


class State:
    """Per process: the site, its facts, one connection pool."""

    def __init__(self, config, site: Site):
        self.config = config
        self.site = site
        self.facts: dict[str, HostFacts] = {}
        self.pool = Pool(float(config.getini("connect_timeout")))
        self.gatherer = Gatherer(site, self.pool, float(config.getini("command_timeout")),
                                 _output_max(config))
        self.gather_seconds = 0.0
        redact.use_site(site)

    def context(self) -> Context:
        return Context(self.site, self.facts, self.config.getini)

    def gather(self):
        start = time.time()
        self.facts = self.gatherer.gather()
        self.gather_seconds = time.time() - start

    def regather(self, servers):
        self.facts.update(self.gatherer.gather(list(servers)))


STATE = pytest.StashKey[State]()
ENGINE = Path(__file__).resolve().parent


def _output_max(config) -> int:
    raw = config.getini("section_output_max")
    try:
        kib = parse_size_kib(raw)
    except ValueError:
        kib = 0
    if kib <= 0:
        raise pytest.UsageError(f"hive-health: ini option section_output_max = {raw!r} is not a size "
                                f"such as 8M")
    return kib * 1024


def pytest_addoption(parser):
    g = parser.getgroup("hive-health")
    g.addoption("--hive-root", metavar="DIR", default=os.environ.get("HIVE_ROOT"),
                help="hive-builder project to check (default: $HIVE_ROOT, else the current directory "
                     "if it is one, else the local machine)")
    g.addoption("--stage", help="stage to check (default: the one persisted in .hive/persistents.yml)")
    g.addoption("--fix", action="store_true",
                help="run the runbook's remedy for each failing check (safe tier), then check again")
    g.addoption("--fix-plan", action="store_true",
                help="print the plan of every remedy a failing check would get; change nothing")
    g.addoption("--allow-risky", action="store_true",
                help="with --fix: also run risky remedies (downtime, or one copy declared authoritative)")
    g.addoption("--allow-destructive", nargs="?", const="yes", default=None, metavar="STAGE",
                help="with --fix: also run destructive remedies (delete data or cluster membership); "
                     "on the production stage give the stage name: --allow-destructive=production")
    g.addoption("--record", metavar="DIR", help="save every command the checks ran, per server, to DIR")
    g.addoption("--replay", metavar="DIR", help="check a recording made with --record; no server is contacted")
    routines.add_options(g, parser)
    site_checks.add_ini(parser)
    for name, (help_, default) in INI.items():
        parser.addini(name, help_, default=default)
    for name, (help_, default) in INI_LINES.items():
        parser.addini(name, help_, type="linelist", default=default)


def _wants_no_site(config) -> bool:
    o = config.option
    return any(getattr(o, a, False) for a in ("help", "version", "showfixtures", "markers")) \
        or bool(getattr(o, "fixtures_per_test", False))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "roles(*roles): servers a per-server check runs on "
                                       "(all, hive, repository)")
    if _wants_no_site(config):
        return
    loaded_waivers = routines.configure(config)
    config.pluginmanager.register(routines.Waivers(loaded_waivers), "hivehealth-waivers")
    if config.option.fix or config.option.fix_plan:
        config.pluginmanager.register(RemedyPlugin(config), "hivehealth-remedy")
    workerinput = getattr(config, "workerinput", None)
    if workerinput and "hivehealth" in workerinput:
        data = json.loads(workerinput["hivehealth"])
        state = State(config, Site.from_dict(data["site"]))
        state.facts = {k: HostFacts.from_dict(v) for k, v in data["facts"].items()}
        config.stash[STATE] = state
        site_checks.configure(config, state)
        return
    replayed = None
    try:
        if config.option.replay:
            if config.option.fix:
                raise pytest.UsageError("hive-health: --fix needs the servers; it cannot run on a --replay")
            site, replayed = recording.load(config.option.replay)
        else:
            site = discover(config.getoption("hosts", None), config.getoption("ssh_config", None),
                            config.getoption("connection", None), config.getoption("hive_root"),
                            config.getoption("stage"))
    except InventoryError as e:
        raise pytest.UsageError(f"hive-health: {e}") from None
    config.stash[STATE] = State(config, site)
    if replayed is not None:
        config.stash[STATE].facts = replayed
    site_checks.configure(config, config.stash[STATE])
    _default_html(config)
    config.pluginmanager.register(JsonReport(config, site), "hivehealth-json")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistBridge(), "hivehealth-xdist")


def _default_html(config):
    """Every run leaves reports/latest.html unless the operator named another file."""
    if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
        report_dir = config.rootpath / config.getini("report_dir")
        config.option.htmlpath = str(report_dir / "latest.html")
        config.option.self_contained_html = True


class _XdistBridge:
    def pytest_configure_node(self, node):
        state = node.config.stash[STATE]
        node.workerinput["hivehealth"] = json.dumps(
            {"site": state.site.to_dict(), "facts": {k: v.to_dict() for k, v in state.facts.items()}})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    state = session.config.stash.get(STATE, None)
    if state is None or hasattr(session.config, "workerinput") or session.config.option.replay:
        return
    state.gather()
    if session.config.option.record:
        recording.save(session.config.option.record, state.site, state.facts)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    """Before any output is made from a test report (terminal, pytest-html, JUnit, the JSON
    report; with -n in the worker and again in the controlling process), it is redacted."""
    redact.redact_report(report)


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report):
    redact.redact_report(report)


def pytest_unconfigure(config):
    state = config.stash.get(STATE, None)
    if state is not None:
        state.pool.close()


def pytest_report_header(config):
    state = config.stash.get(STATE, None)
    if state is None:
        return None
    s = state.site
    lines = [f"hive-health: {s.describe()}"]
    for srv in s.servers:
        lines.append(f"  {srv.name:<28} {','.join(sorted(srv.roles))}")
    return lines


def pytest_generate_tests(metafunc):
    state = metafunc.config.stash.get(STATE, None)
    if state is None:
        return
    ctx = state.context()
    if "server" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("roles")
        roles = set(marker.args) if marker else {"all"}
        servers = [s for s in state.site.servers if _has_role(s, roles, state.site)]
        _parametrize(metafunc, "server", servers, [s.name for s in servers], state.site,
                     f"server with role {' or '.join(sorted(roles))}",
                     "module" if site_checks.module_scoped(metafunc) else None)
    for fixture, (finder, what) in objects.FINDERS.items():
        if fixture in metafunc.fixturenames:
            names = finder(ctx)
            _parametrize(metafunc, fixture, names, names, state.site, what)


def _parametrize(metafunc, fixture, values, ids, site, what, scope=None):
    """One item per object; with none, one skipped item that says what the site lacks (rather
    than pytest's "got empty parameter set")."""
    if not values:
        reason = f"{site.describe()} has no {what} to check"
        values, ids = [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ["none"]
    else:
        ids = [safe_id(i) for i in ids]     # site text: it becomes markup in pytest-html's page
    metafunc.parametrize(fixture, values, ids=ids, scope=scope)


def _has_role(server, roles: set, site: Site) -> bool:
    if "all" in roles:
        return True
    if site.kind == "local":
        return False
    return bool(roles & server.roles)


@pytest.fixture
def site(request) -> Site:
    return request.config.stash[STATE].site


@pytest.fixture
def verify(request):
    """Runs a check's evaluate(ctx, obj) on the gathered facts and turns the verdict into the
    test's outcome. With --fix a failing verdict goes to its remedy first (hivehealth.remedy)."""
    state = request.config.stash[STATE]

    def run(evaluate, obj):
        verdict = state.context().judge(evaluate, obj)
        hook = request.config.pluginmanager.get_plugin("hivehealth-remedy")
        if hook is not None and verdict.status in (FAIL, UNKNOWN):
            verdict = hook.remedy(request, state, evaluate, obj, verdict)
        extra = {}
        if verdict.status == FAIL:      # what --fix would plan for the state as it is now
            extra["remedies"] = remedy.applicable(request, state.context(), evaluate.__name__, obj, verdict)
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
             "runbook": report_page.runbook_refs(getattr(module, "__doc__", None)),
             "evidence": [e.render() for e in verdict.evidence], **extra}
    item.user_properties.append(("hivehealth", entry))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip names the check and its object, not the engine's file and line where
    pytest.skip was called: `SKIPPED [1] hostkeys s-hive0.lab: no known_hosts to check`; a
    failure's one-line form (--tb=line) names the check's file and function, not verify()."""
    outcome = yield
    report = outcome.get_result()
    crash = getattr(report.longrepr, "reprcrash", None)
    if report.failed and crash is not None and Path(crash.path).resolve().parent == ENGINE:
        # a verdict's failure is raised in verify(): name the check's own file and function
        path, lineno, _ = item.location
        crash.path, crash.lineno = path, (lineno or 0) + 1
    if not (report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3) \
            or hasattr(report, "wasxfail"):
        return
    report.longrepr = (skip_label(item), None, skip_reason(item, str(report.longrepr[2])))


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


def operator() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())
