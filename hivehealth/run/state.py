"""The run's state, one per process: the site, the facts gathered from its servers, one
connection pool. The plugin keeps it in the config's stash under STATE."""
from __future__ import annotations

import time

import pytest

from hivehealth import redact
from hivehealth.gather.probe import Gatherer, HostFacts
from hivehealth.judge.context import Context
from hivehealth.parsers.sizes import parse_size_kib
from hivehealth.site.inventory import Site
from hivehealth.site.transport import Pool


class State:
    """Per process: the site, its facts, one connection pool."""

    def __init__(self, config, site: Site):
        self.config = config
        self.site = site
        self.facts: dict[str, HostFacts] = {}
        self.pool = Pool(float(config.getini("connect_timeout")))
        self.output_max = output_max(config)
        self.gatherer = Gatherer(site, self.pool, float(config.getini("command_timeout")),
                                 self.output_max, size_option(config, "server_output_max"))
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


def output_max(config) -> int:
    """Bytes of one command's output kept (ini section_output_max)."""
    return size_option(config, "section_output_max")


def size_option(config, name: str) -> int:
    """Bytes of an ini size option (section_output_max, server_output_max)."""
    raw = config.getini(name)
    try:
        kib = parse_size_kib(raw)
    except ValueError:
        kib = 0
    if kib <= 0:
        raise pytest.UsageError(f"hive-health: ini option {name} = {raw!r} is not a size such as 8M")
    return kib * 1024
