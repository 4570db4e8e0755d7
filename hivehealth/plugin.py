"""The pytest plugin, hooks only: options, site discovery, one gathering per run, parametrization,
the `site` and `verify` fixtures (their logic: hivehealth.run), xdist.

Flow: pytest_configure finds the site (files only, no network); pytest_sessionstart gathers the
facts of every server once, in the controlling process; xdist workers receive site and facts
through workerinput, so with -n they collect the same items and open connections only for
remedies and re-checks. Checks are pure functions of the facts.
"""
from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path

import pytest

from hivehealth import checks, fixes, options, redact
from hivehealth.gather import recording
from hivehealth.judge import alerts, cluster
from hivehealth.report import selection, waivers
from hivehealth.report.skips import skip_label, skip_reason
from hivehealth.site import testinfra_host
from hivehealth.site.transport import LocalProblem
from hivehealth.gather.probe import HostFacts
from hivehealth.ids import safe_id
from hivehealth.site.inventory import InventoryError, Site, discover, find_project, is_hive_project
from hivehealth.remedy import plan as remedy_plan
from hivehealth.remedy.audit import operator
from hivehealth.remedy.runner import RemedyPlugin
from hivehealth.report.json_report import JsonReport
from hivehealth.report.junitxml import PrivateJunitXml
from hivehealth.run import verify as run_verify
from hivehealth.run.state import STATE, State, output_max

PLUGIN = __name__                             # "hivehealth.plugin", also its entry point's name
SUITE_DIR = Path(checks.__file__).parent      # the suite's own checks
VERIFY_FILE = Path(run_verify.__file__).resolve()   # where a verdict's failure is raised


def pytest_addoption(parser):
    options.add_options(parser)

def _wants_no_site(config) -> bool:
    o = config.option
    return any(getattr(o, a, False) for a in ("help", "version", "showfixtures", "markers")) \
        or bool(getattr(o, "fixtures_per_test", False))


def _active(config) -> bool:
    """Installed, this plugin is loaded into every pytest run of its environment; it acts only
    when asked: loaded by name (`-p hivehealth.plugin`: pytest.ini, the hive-health command),
    a site named on the command line (--hive-root, --replay, --local, a hive project's
    directory as an argument), started in or under a hive project directory (one with
    .hive/), or an xdist worker of such a run."""
    if "hivehealth" in getattr(config, "workerinput", {}):
        return True
    if PLUGIN in (config.option.plugins or []):
        return True
    given = config.invocation_params.args
    if any(str(a).split("=", 1)[0] in ("--hive-root", "--replay", "--local") for a in given):
        return True
    if _site_arguments(config):
        return True
    return find_project(Path(config.invocation_params.dir)) is not None


def _site_arguments(config) -> list[str]:
    """Arguments that are a hive project's directory (`hive-health SITE`, `pytest SITE`)."""
    base = Path(config.invocation_params.dir)
    found = []
    for arg in config.args:
        path = base / str(arg)
        if "::" not in str(arg) and path.is_dir() and path.resolve() != SUITE_DIR.resolve() \
                and is_hive_project(path):
            found.append(arg)
    return found


def _hive_root(config) -> str | None:
    """--hive-root (or $HIVE_ROOT), or the hive project given as an argument, which then leaves
    the paths pytest collects: the suite's checks are collected instead."""
    given = config.getoption("hive_root")
    named = _site_arguments(config)
    for arg in named:
        config.args.remove(arg)
    roots = {str(Path(config.invocation_params.dir, a).resolve()) for a in named}
    if given:
        roots.add(str(Path(config.invocation_params.dir, given).resolve()))
    if len(roots) > 1:
        raise pytest.UsageError("hive-health: more than one site named (" + ", ".join(sorted(roots)) +
                                "): check one site per run")
    return given or (named[0] if named else None)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """A replay loads no conftest.py: a recording is data, and pytest would otherwise import one
    from where it starts (a bundle unpacked in the current directory) and from what it collects.
    Nor does it leave pytest's cache there: it writes its reports and nothing else (as with
    `-p no:cacheprovider`, which takes stepwise with it)."""
    if getattr(early_config.known_args_namespace, "replay", None):
        early_config.known_args_namespace.noconftest = True
        for name in ("stepwise", "cacheprovider"):
            early_config.pluginmanager.set_blocked(name)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "roles(*roles): servers a per-server check runs on "
                                       "(all, hive, repository)")
    if not _active(config):
        return
    config.pluginmanager.register(Redaction(), "hivehealth-redaction")
    _load_areas(config)
    if _wants_no_site(config):
        return
    hive_root = _hive_root(config)
    if config.args_source != pytest.Config.ArgsSource.ARGS or not config.args:
        # plain `pytest` in a hive project: the suite's checks (and the site's own, below)
        config.args[:] = [str(SUITE_DIR)]
    terms, narrowed = selection.terms_of(config, SUITE_DIR)   # before --alert narrows -k
    options.check(config)
    alerts.select(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput and "hivehealth" in workerinput:
        data = json.loads(workerinput["hivehealth"])
        state = State(config, Site.from_dict(data["site"]))
        state.facts = {k: HostFacts.from_dict(v) for k, v in data["facts"].items()}
        if data.get("site_root"):
            options.apply_site_ini(config, Path(data["site_root"]))
        _settings(config)
        _use(config, state, selection.Selection(terms, narrowed))
        return
    replayed = None
    try:
        if config.option.replay:
            if config.option.fix:
                raise pytest.UsageError("hive-health: --fix needs the servers; it cannot run on a --replay")
            site, replayed = recording.load(config.option.replay, output_max(config))
        else:
            site = discover(config.getoption("hosts", None), config.getoption("ssh_config", None),
                            config.getoption("connection", None), hive_root,
                            config.getoption("stage"), local=config.option.local,
                            start=config.invocation_params.dir)
    except InventoryError as e:
        raise pytest.UsageError(f"hive-health: {e}") from None
    if site.kind == "hive" and site.root and replayed is None:
        # a recording's root names a directory of another machine: never read from it
        options.apply_site_ini(config, Path(site.root))
    _settings(config)
    state = State(config, site)
    if replayed is not None:
        state.facts = replayed
    chosen = selection.Selection(terms, narrowed)
    _use(config, state, chosen)
    reports = JsonReport(config, config.stash[STATE], chosen)
    # a folder that cannot take the page: pytest-html is not asked to (it would fail creating it)
    reports.html_default = reports.blocked is None and _default_html(config)
    config.pluginmanager.register(reports, "hivehealth-json")
    config.pluginmanager.register(PrivateJunitXml(), "hivehealth-junitxml")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistBridge(), "hivehealth-xdist")


def _settings(config):
    """What the ini settings (the site's own included) decide before the run starts."""
    config.pluginmanager.register(waivers.Waivers(waivers.load_configured(config)), "hivehealth-waivers")


def _use(config, state, chosen):
    """The run's state, handed to the parts that need it."""
    config.stash[STATE] = state
    config.pluginmanager.register(chosen, "hivehealth-selection")
    if config.option.fix or config.option.fix_plan:
        config.pluginmanager.register(RemedyPlugin(config, state, operator()), "hivehealth-remedy")
    testinfra_host.configure(config, state, SUITE_DIR)


def _load_areas(config):
    """The areas register themselves: importing each check module declares its probe sections,
    each fix module is a plugin of remedy fixtures. A remedy answering no check stops the run."""
    checks.modules()
    for module in fixes.modules():
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, module.__name__)
    problems = remedy_plan.validate()
    if problems:
        raise pytest.UsageError("hive-health: " + "; ".join(problems))


def _default_html(config) -> bool:
    """Every run leaves an HTML page beside its JSON report (reports/latest.html for a full run)
    unless the operator named another file; True when the page is ours to name. Its name is
    known only when the run ends (hivehealth.report.json_report): until then pytest-html holds a
    path in a folder that exists, so that a run which writes nothing creates no folder either."""
    if hasattr(config.option, "htmlpath") and not config.option.htmlpath and not config.option.collectonly:
        config.option.htmlpath = os.devnull
        config.option.self_contained_html = True
        return True
    return False


class _XdistBridge:
    def pytest_configure_node(self, node):
        state = node.config.stash[STATE]
        root = node.config.stash.get(options.SITE_ROOT, None)
        node.workerinput["hivehealth"] = json.dumps(
            {"site": state.site.to_dict(), "facts": {k: v.to_dict() for k, v in state.facts.items()},
             "site_root": str(root) if root is not None else None})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    state = session.config.stash.get(STATE, None)
    if state is None or hasattr(session.config, "workerinput") or session.config.option.replay:
        return
    try:
        state.gather()
    except LocalProblem as e:
        raise pytest.UsageError(f"hive-health: {e}") from None
    if session.config.option.record:
        recording.save(session.config.option.record, state.site, state.facts)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    """A selection that kept nothing is the operator's mistake, not a run: a usage error naming
    the expression (nothing is written: hivehealth.report.json_report)."""
    config = session.config
    chosen = config.pluginmanager.get_plugin("hivehealth-selection")
    if chosen is None or hasattr(config, "workerinput") or not chosen.empty:
        return
    state = config.stash[STATE]
    message = _missing_alert_object(config, state) or (
        f"{' '.join(chosen.terms) or 'the selection'} selects none of the {chosen.deselected} checks of "
        f"{state.site.describe()} (`hive-health --co -q` lists them)")
    sys.stderr.write(f"ERROR: hive-health: {message}\n")
    session.exitstatus = pytest.ExitCode.USAGE_ERROR


def _missing_alert_object(config, state) -> str | None:
    """`no DRBD resource ldap_dta on this site; known: ldap_data` for an --alert whose object
    the site does not have."""
    if config.option.alert is None:
        return None
    m = alerts.match(config.option.alert)
    if m.object is None:
        return None
    functions = {name: fn for module in checks.modules() for name, fn in vars(module).items()
                 if name.startswith("test_") and callable(fn)}
    ctx = state.context()
    for function in alerts.functions_of(m):
        params = inspect.signature(functions[function]).parameters if function in functions else {}
        for fixture, (finder, what) in cluster.FINDERS.items():
            if fixture in params:
                known = ", ".join(finder(ctx)) or "none"
                return f"no {what} {m.object} on this site; known: {known}"
    return None


class Redaction:
    """Before any output is made from a test report (terminal, pytest-html, JUnit, the JSON
    report; with -n in the worker and again in the controlling process), it is redacted."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        redact.redact_report(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report):
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
    lines = [f"hive-health: {s.headline()}"]
    ini = options.site_ini(config)
    if ini is not None:
        lines.append(f"  settings: {ini}")
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
                     "module" if testinfra_host.module_scoped(metafunc) else None)
    for fixture, (finder, what) in cluster.FINDERS.items():
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
    """verify(evaluate, obj): the check's verdict on the gathered facts becomes the test's
    outcome, after its remedy with --fix (hivehealth.run.verify)."""
    return run_verify.verifier(request, request.config.stash[STATE])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip names the check and its object, not the engine's file and line where
    pytest.skip was called: `SKIPPED [1] hostkeys s-hive0.lab: no known_hosts to check`; a
    failure's one-line form (--tb=line) names the check's file and function, not verify()."""
    outcome = yield
    if item.config.stash.get(STATE, None) is None:
        return          # not a hive-health run (the installed plugin is inert there)
    report = outcome.get_result()
    crash = getattr(report.longrepr, "reprcrash", None)
    if report.failed and crash is not None and Path(crash.path).resolve() == VERIFY_FILE:
        # a verdict's failure is raised in verify(): name the check's own file and function
        path, lineno, _ = item.location
        crash.path, crash.lineno = path, (lineno or 0) + 1
    if not (report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3) \
            or hasattr(report, "wasxfail"):
        return
    report.longrepr = (skip_label(item), None, skip_reason(item, str(report.longrepr[2])))
