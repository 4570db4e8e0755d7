"""pytest's cache (--lf, --ff, --sw, --nf) beside the reports: `cache_dir` is the folder `.cache`
in report_dir unless the operator names one (-o cache_dir=..., a pytest.ini), and a run that
writes no reports (--co, a usage error, a folder it cannot write) writes no cache either.

A --replay runs without the cache (hivehealth.plugin): a recording is data, and its failures
are not this site's to re-run."""
from __future__ import annotations

from hivehealth import options

DEFAULT = ".pytest_cache"       # pytest's own, relative to its rootdir: the installed package


def place(config) -> None:
    """Before pytest's cacheprovider opens the cache (its pytest_configure, after ours)."""
    if getattr(config, "cache", None) is not None:
        raise RuntimeError("hive-health: pytest's cache was opened before the site was known")
    if config.getini("cache_dir") == DEFAULT:
        options.set_ini(config, "cache_dir", str(options.report_dir(config) / ".cache"))


class ReadOnly:
    """pytest's cache as its plugins see it, reading what earlier runs left and keeping what
    this run would add."""

    def __init__(self, cache):
        self._cache = cache

    def get(self, key, default):
        return self._cache.get(key, default)

    def set(self, key, value) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._cache, name)


def hold(config) -> None:
    """This run writes nothing: before the cache's plugins save at the session's end."""
    cache = getattr(config, "cache", None)
    if cache is None or isinstance(cache, ReadOnly):
        return
    config.cache = ReadOnly(cache)
    stepwise = config.pluginmanager.get_plugin("stepwiseplugin")
    if stepwise is not None:
        stepwise.cache = config.cache
