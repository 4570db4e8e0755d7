"""--junitxml FILE holds the evidence (messages, outputs): written like every other report,
private (PRIVATE, 0640) and replaced atomically, never through a link planted at its name.

pytest writes the file with a plain open() that follows links and leaves it 0644 (umask). So
pytest's writer is pointed at a file in a private temporary folder of this run, and when it is
done the file is written to the operator's name through hivehealth.safe_write.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from hivehealth.safe_write import PRIVATE, read_in_place, write_atomic


class PrivateJunitXml:
    def __init__(self):
        self.xml = None             # pytest's LogXML, when --junitxml was given
        self.target = None          # the file the operator named
        self.tmp = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        try:
            from _pytest.junitxml import xml_key
        except ImportError:         # a pytest without it writes no JUnit XML this way
            return
        self.xml = session.config.stash.get(xml_key, None)
        if self.xml is None:
            return
        self.target = self.xml.logfile
        self.tmp = tempfile.mkdtemp(prefix="hive-health-junit-")      # 0700, this run's own
        self.xml.logfile = str(Path(self.tmp) / "junit.xml")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        """After pytest's own writer (no ordering of its own): the file to its name."""
        if self.xml is None:
            return
        written = Path(self.xml.logfile)
        self.xml.logfile = self.target      # what pytest's summary line names
        try:
            if written.exists():
                write_atomic(self.target, read_in_place(written), PRIVATE)
        except OSError as e:
            print(f"hive-health: --junitxml {self.target} not written: {e}", file=sys.stderr)
        finally:
            self._clean()

    def pytest_unconfigure(self, config):
        self._clean()

    def _clean(self):
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
