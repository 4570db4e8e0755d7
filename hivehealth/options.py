"""Every command-line option and ini option of hive-health, with its help and default.

Thresholds carry the runbook's and zabbix's defaults; a site overrides them in pytest.ini or
with `-o name=value`. Checks read them through the facts view (`ctx.ini`, `ctx.number`), which
falls back to the default declared here when the option is not registered (a check imported by
a unit test, without pytest's configuration).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

INI: dict[str, tuple[str, str]] = {
    # name: (help, default)
    "disk_usage_max": ("disk: highest use % of a server's filesystem (zabbix: 80)", "80"),
    "volume_usage_max": ("volumes: highest use % of a DRBD-backed docker volume (zabbix: 90)", "90"),
    "registry_max_size": ("registry: largest registry_regdata, e.g. 20G; empty = 50 % of its filesystem", ""),
    "service_restart_max": ("services: failed tasks within service_restart_window that make a restart loop", "3"),
    "service_restart_window": ("services: seconds of task history a restart loop is counted in", "300"),
    "service_stable_seconds": ("services: seconds a task must stay up to end a restart loop", "30"),
    "service_start_grace": ("services: seconds a task may stay before running (pending, preparing, "
                            "starting...) before it counts as stuck", "300"),
    "backup_max_age": ("backup: hours since the file behind each backup-<name>-latest.* link was "
                       "written (the timer runs daily at 01:00)", "26"),
    "thinpool": ("thinpool: the LVM thin pool of the DRBD volumes, VG/LV (hive-builder: drbdvg/drbdpool)",
                 "drbdvg/drbdpool"),
    "thinpool_data_max": ("thinpool: highest data use % of the thin pool", "80"),
    "thinpool_metadata_max": ("thinpool: highest metadata use % of the thin pool", "80"),
    "clock_skew_max": ("time: seconds a server's clock may differ from the mother's", "5"),
    "selinux_window": ("selinux: which denials count: today (zabbix's ausearch -ts today), boot, "
                       "or a number of seconds (at most 86400)", "today"),
    "unit_restart_window": ("unit_restarts: seconds since a service last became active that count "
                            "as a restart (zabbix: 180)", "180"),
    "service_error_window": ("service_error_log: seconds of /var/log/service-error.log lines that "
                             "count (zabbix: count(8h))", "28800"),
    "service_error_shown": ("service_error_log: how many of the newest lines to show", "5"),
    "inner_restart_window": ("inner_services: seconds since an inner service became active that "
                             "count as a restart (zabbix: 28800)", "28800"),
    "service_cpu_max": ("service_usage: highest CPU % of a service, averaged over its containers, "
                        "100 = one core (zabbix: 80)", "80"),
    "service_memory_max": ("service_usage: highest memory use % of its limit (zabbix: 90)", "90"),
    "inode_usage_max": ("inodes: highest inode use % of a filesystem (zabbix: free < 20 %)", "80"),
    "command_timeout": ("seconds a remote command may take", "30"),
    "connect_timeout": ("seconds to open an SSH connection", "10"),
    "section_output_max": ("largest output of one command on one server that is kept, e.g. 8M; "
                           "a larger one makes its checks unknown (output too large)", "8M"),
    "server_output_max": ("largest answer of one server's probe that is kept, all its commands' output "
                          "together, e.g. 32M; the commands past it are unknown (not read)", "32M"),
    "fix_lock_wait": ("--fix: seconds to wait for another run's fix to finish", "300"),
    "node_down_grace": ("--fix: seconds a swarm node must be Down before it may be removed", "600"),
    "report_dir": ("where reports are written, relative to the pytest.ini in use (else the current directory)", "reports"),
    "report_keep_days": ("days of dated reports kept for reports/index.html", "30"),
    "prometheus_textfile": ("write a Prometheus textfile (node_exporter textfile collector) here", ""),
    "waivers_file": ("YAML file of accepted exceptions (check, host, justification, expires)", ""),
    "site_checks_dir": ("folder of the site's own testinfra checks (test_*.py taking `host`), relative to "
                        "the hive project; collected with the suite's checks", "health"),
}

INI_LINES: dict[str, tuple[str, list[str]]] = {
    "units_ignore": ("units: regexes of failed units a site accepts (zabbix's blacklist)",
                     [r"^kdump\.service$", r"^ec2-instance-connect\.service$", r"^cloud-config\.service$",
                      r"^getty@[^.]*\.service$", r"^network\.service$"]),
    "units_not_needed": ("--fix: units to disable --now when failed (runbook 7.6's example)",
                         ["dnf-makecache.timer", "getty@tty1.service"]),
}

GATE_HELP = ("answer 'is it safe to start maintenance?': stricter than the nightly run (a DRBD "
             "resync, a node not Active, a service not converged block it), no fixes, one-line "
             "verdict; exit 0 only when ready")


def default(name: str):
    """The declared default of an ini option (KeyError for a name nobody declared)."""
    return (INI.get(name) or INI_LINES[name])[1]


SITE_INI = pytest.StashKey[Path]()       # the site's own pytest.ini, when its settings applied
SITE_ROOT = pytest.StashKey[Path]()      # the hive project this run checks
# pytest reads these before any plugin is configured: in a site's file they apply only when
# pytest itself starts from it (plain `pytest` typed in the site)
READ_AT_START = ("addopts", "minversion", "required_plugins", "testpaths", "pythonpath")


def site_ini(config) -> Path | None:
    """The site's pytest.ini whose settings this run applied, if any."""
    return config.stash.get(SITE_INI, None)


def base_dir(config) -> Path:
    """What the file options (report_dir, waivers_file, prometheus_textfile) are relative to:
    the site's own pytest.ini's directory when it applied, else the directory of the pytest.ini
    in use, else the hive project checked, else the directory pytest was started in. (Not the
    rootdir: the hive-health command makes the installed package the rootdir, so that checks
    keep their ids.) Started in SITE/inventory/, a run of SITE writes where a run started in
    SITE does."""
    ini = site_ini(config)
    if ini is not None:
        return ini.parent
    if config.inipath is not None:
        return Path(config.inipath).parent
    root = config.stash.get(SITE_ROOT, None)
    if root is not None:
        return root
    return Path(config.invocation_params.dir)


def _set_ini(config, name: str, value: str) -> None:
    """One ini value from the site's file, unless given with -o (which wins)."""
    try:
        from _pytest.config.findpaths import ConfigValue      # pytest 9: -o lives in the same table
    except ImportError:                                       # pytest 8: -o is looked up first
        config.inicfg[name] = value
    else:
        current = config._inicfg.get(name)
        if current is not None and current.origin == "override":
            return
        config._inicfg[name] = ConfigValue(value, origin="file", mode="ini")
    config._inicache.pop(name, None)


def apply_site_ini(config, root: Path) -> Path | None:
    """The hive project's own SITE/pytest.ini ([pytest] section) over the suite's defaults and
    under -o, whichever way the run started (hive-health, plain pytest, make run, cron). An
    option no one declared is a warning naming the file and the key. Returns the file when it
    exists."""
    import iniconfig

    config.stash[SITE_ROOT] = Path(root)
    path = Path(root) / "pytest.ini"
    if not path.is_file():
        return None
    try:
        section = iniconfig.IniConfig(str(path)).sections.get("pytest")
    except (iniconfig.ParseError, OSError, UnicodeDecodeError) as e:
        raise pytest.UsageError(f"hive-health: {path}: not a readable pytest.ini: {e}") from None
    config.stash[SITE_INI] = path
    if section is None:
        return path
    native = config.inipath is not None and Path(config.inipath).resolve() == path.resolve()
    known = config._parser._inidict
    for name in section:
        if name not in known:
            config.issue_config_time_warning(pytest.PytestConfigWarning(
                f"{path}: unknown option {name!r} (not a setting of hive-health or pytest; "
                f"`hive-health --help` lists them)"), stacklevel=2)
        elif not native and name in READ_AT_START:
            config.issue_config_time_warning(pytest.PytestConfigWarning(
                f"{path}: {name} applies only to plain pytest typed in the site, not to this run; "
                f"give it on the command line"), stacklevel=2)
        elif not native:
            _set_ini(config, name, section[name])
    return path


def report_dir(config) -> Path:
    return base_dir(config) / config.getini("report_dir")


def add_options(parser):
    """pytest_addoption: the command line, then the ini options."""
    g = parser.getgroup("hive-health")
    g.addoption("--hive-root", metavar="DIR", default=os.environ.get("HIVE_ROOT") or None,
                help="hive-builder project to check (default: $HIVE_ROOT, else the project holding "
                     "the current directory, the nearest one with .hive/; `hive-health DIR` works too)")
    g.addoption("--local", action="store_true",
                help="check this machine, not a hive site")
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
    g.addoption("--gate", action="store_true", help=GATE_HELP)
    g.addoption("--alert", metavar="TEXT",
                help="select the checks of a zabbix alert, e.g. \"Problem: DRBD resource ldap_data "
                     "status is not UpToDate/Diskless client\"")
    for name, (help_, value) in INI.items():
        parser.addini(name, help_, default=value)
    for name, (help_, value) in INI_LINES.items():
        parser.addini(name, help_, type="linelist", default=value)


def check(config):
    """Combinations of options that make no sense are usage errors."""
    o = config.option
    if o.gate and (o.fix or o.fix_plan):
        raise pytest.UsageError("hive-health: --gate only looks; it never fixes (drop --fix/--fix-plan)")
    for given, name in ((o.allow_risky, "--allow-risky"), (o.allow_destructive, "--allow-destructive")):
        if given and not (o.fix or o.fix_plan):
            raise pytest.UsageError(f"hive-health: {name} only widens what --fix may run; "
                                    f"without --fix nothing is changed (add --fix, or drop {name})")
    if o.replay and o.record:
        raise pytest.UsageError("hive-health: --record saves what the servers answer; a --replay "
                                "asks no server (drop one of them)")
    if o.local and (o.hive_root or o.replay):
        other = "--replay" if o.replay else "--hive-root (or $HIVE_ROOT)"
        raise pytest.UsageError(f"hive-health: --local checks this machine; {other} names a site "
                                "(drop one of them)")
