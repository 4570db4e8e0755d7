"""The site's own checks, in testinfra's idiom: `def test_x(host)` runs once per server of the site.

In a run against a hive site, testinfra's `host` fixture is a testinfra Host for each of the
site's servers, parametrized through the suite's own `server` parameter: the `roles` marker
selects the servers and the server's name is the test id (`test_chrony[s-hive0.lab]`). Commands
go over the connection the suite already opened to gather the facts (a paramiko backend handed
that open client), so they are reached exactly as the suite reaches them: ssh_config, known_hosts,
key and connect timeout, and every command under `command_timeout`. A server the suite could not
reach fails its checks at once with the suite's reason.

Operators keep such checks in their hive project, in `health/` (the ini option
`site_checks_dir`); the folder is collected with the suite's own checks.

With testinfra's own options (`--hosts`) or without a site, testinfra's `host` is untouched.
The plugin hands its state down (`configure(config, state)`); this module never imports it.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from testinfra.host import Host

from hivehealth.options import default

INI_NAME = "site_checks_dir"
INI_DEFAULT = default(INI_NAME)
PLUGIN_NAME = "hivehealth-site-checks"
ENTRY = "hivehealth"            # the user property the JSON report reads a check's verdict from


class SiteHosts:
    """Per process: one testinfra Host per server, over the suite's own connection.

    Registered as a plugin after testinfra's, so its `host` fixture is the one a check gets."""

    def __init__(self, config, state):
        self.config = config
        self.state = state             # site, facts (gathered at session start), pool
        self.replay = bool(config.option.replay)
        self.command_timeout = float(config.getini("command_timeout"))
        self.output_max = state.output_max    # bytes of a command's stdout (and stderr) kept
        self.lost: dict[str, str] = {}   # server -> why it stopped answering during this run
        self._hosts: dict[str, Host] = {}

    # which servers cannot be asked, and why
    def why_not(self, server) -> tuple[str, str] | None:
        """(status, problem) when a check of `server` must not run, else None."""
        facts = self.state.facts.get(server.name)
        if facts is not None and facts.unreachable:
            return "fail", f"unreachable: {facts.unreachable}"
        if server.name in self.lost:
            return "fail", f"unreachable: {self.lost[server.name]}"
        if self.replay:
            return "unknown", ("not checked: a --replay contacts no server, and this check asks "
                               "the server itself")
        return None

    def host(self, server) -> Host:
        h = self._hosts.get(server.name)
        if h is None:
            # paramiko is loaded here, by the first check that asks a server: never on a replay
            from hivehealth.site.testinfra_backend import SuiteParamiko
            transport = self.state.pool.transport(server)
            h = self._hosts[server.name] = Host(SuiteParamiko(server, transport, self.command_timeout, self))
        return h

    # hooks
    def pytest_generate_tests(self, metafunc):
        if "host" in metafunc.fixturenames and hasattr(metafunc.module, "testinfra_hosts"):
            pytest.fail(f"{metafunc.module.__file__}: testinfra_hosts is not used in a run against a "
                        f"hive site: its checks run on the site's servers, chosen with "
                        f"@pytest.mark.roles(...); use --hosts to check other hosts", pytrace=False)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        server = _server_of(pyfuncitem)
        if server is None:
            return None
        why = self.why_not(server)
        if why is not None:
            status, problem = why
            pyfuncitem.user_properties.append((ENTRY, _entry(server, status, [problem])))
            pytest.fail(f"{server.name}: {problem}", pytrace=False)
        return None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        server = _server_of(item)
        if server is None or report.when != "call" or any(k == ENTRY for k, _ in report.user_properties):
            return
        if report.passed:
            report.user_properties.append((ENTRY, _entry(server, "ok", [])))
        elif report.failed and call.excinfo is not None:
            status = "unknown" if isinstance(call.excinfo.value, NoAnswer) else "fail"
            report.user_properties.append((ENTRY, _entry(server, status, [_problem(server, call.excinfo)])))


def _entry(server, status: str, problems: list[str]) -> dict:
    """The JSON report's fields for one site check, shaped like the suite's own verdicts."""
    return {"subject": server.name, "status": status, "problems": problems, "alert": None,
            "origin": "site"}


def _problem(server, excinfo) -> str:
    """What went wrong, on one line: the assertion with the outer level of pytest's explanation
    (`+  where False = <file /x>.exists`, not how testinfra built the file object), or our words."""
    if isinstance(excinfo.value, pytest.fail.Exception):
        return str(excinfo.value.msg).removeprefix(f"{server.name}: ")
    lines = [line for line in excinfo.exconly().splitlines()
             if line.strip() and not line.lstrip().startswith("+    ")]
    return " ".join(" ".join(line.split()) for line in lines)


def _server_of(item):
    """The server a site check (a test taking `host`) runs against, else None."""
    if "host" not in getattr(item, "fixturenames", ()):
        return None
    server = getattr(getattr(item, "callspec", None), "params", {}).get("server")
    return server if hasattr(server, "spec") else None


class NoAnswer(pytest.fail.Exception):
    """A command of a site check gave no answer (deadline, output over the cap): the check is
    unknown, not failed on what the server is."""

    def __init__(self, msg: str):
        super().__init__(msg, pytrace=False)


def folder(config, site) -> Path | None:
    """The site's checks folder, or None when the site has none. A folder named in the ini
    option that does not exist is a usage error; the default one may simply be absent."""
    value = str(config.getini(INI_NAME) or "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        if not site.root:
            return None
        path = Path(site.root) / path
    if path.is_dir():
        return path.resolve()
    if value != INI_DEFAULT:
        raise pytest.UsageError(f"hive-health: {INI_NAME} = {value}: folder {path} not found")
    return None


def _modules(directory: Path, patterns) -> dict[str, Path]:
    return {p.name: p for pattern in patterns for p in directory.rglob(pattern) if p.is_file()}


def _collect_with_suite(config, path: Path, suite_dir: Path):
    """Add the site's folder to what pytest collects when the run collects the suite's checks
    folder as a whole (no path given, or the hive-health command's own)."""
    suite = [suite_dir.resolve()]
    args = [Path(a.split("::")[0]).resolve() for a in config.args]
    if path in args or not any(a in suite for a in args):
        return
    patterns = config.getini("python_files")
    mine = _modules(path, patterns)
    for d in suite:
        for name, theirs in _modules(d, patterns).items():
            if name in mine:
                raise pytest.UsageError(
                    f"hive-health: {mine[name]} has the module name of the suite's own {theirs}; "
                    f"give it another name (e.g. test_site_{name.removeprefix('test_')})")
    config.args.append(str(path))


def configure(config, state, suite_dir: Path):
    """In a hive run: testinfra's `host` becomes each server of the site, and the site's own
    checks folder is collected with the suite's checks (`suite_dir`), except on a replay, whose
    site is a recording's. `state` has .site, .facts and .pool."""
    if state.site.kind != "hive":
        return
    config.pluginmanager.register(SiteHosts(config, state), PLUGIN_NAME)
    config.pluginmanager.register(_Fixture(), PLUGIN_NAME + "-fixture")
    if config.option.replay:
        return          # a recording is data: no folder of a site is collected on its say
    path = folder(config, state.site)
    if path is not None:
        _collect_with_suite(config, path, suite_dir)


def module_scoped(metafunc) -> bool:
    """A site check's server is a module-scoped parameter, as testinfra's `host` is."""
    return metafunc.config.pluginmanager.get_plugin(PLUGIN_NAME) is not None and \
        "host" in metafunc.fixturenames


class _Fixture:
    @pytest.fixture(scope="module")
    def host(self, request, server):
        """testinfra's Host for one server of the site, over the suite's own connection."""
        return request.config.pluginmanager.get_plugin(PLUGIN_NAME).host(server)
