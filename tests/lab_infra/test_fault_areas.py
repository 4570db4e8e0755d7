"""Lab faults carry their area's name: `<area>:<state>`, declared in lab/faults/<area>.py, the
area one of hivehealth/checks/test_<area>.py. No lab needed: nothing here injects anything."""
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

from lab import faults

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^([a-z_]+):([a-z0-9]+(?:-[a-z0-9]+)*)$")


def declared():
    """(module name, Fault) for every fault every module of lab/faults declares, read directly."""
    out = []
    for mod in pkgutil.iter_modules(faults.__path__):
        module = importlib.import_module(f"lab.faults.{mod.name}")
        out += [(mod.name, f) for f in getattr(module, "FAULTS", ())]
    return out


def test_every_fault_is_declared_in_the_module_of_its_area_and_that_area_has_a_check():
    found = declared()
    assert len(found) >= 30, found
    for module, fault in found:
        m = NAME.match(fault.name)
        assert m, f"{fault.name!r} is not <area>:<state> (lower case, words joined by -)"
        area = m.group(1)
        assert (REPO / "hivehealth" / "checks" / f"test_{area}.py").is_file(), \
            f"{fault.name}: no check hivehealth/checks/test_{area}.py"
        assert module == area, f"{fault.name} is declared in lab/faults/{module}.py, not {area}.py"
        for step in (fault.inject, fault.heal):
            assert step.__module__ == f"lab.faults.{area}", \
                f"{fault.name}: {step.__name__} lives in {step.__module__}, not in lab/faults/{area}.py"
        assert fault.description.strip(), fault.name


def test_names_are_unique_and_the_catalog_is_exactly_what_the_modules_declare():
    names = [f.name for _, f in declared()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert list(faults.catalog()) == names


def test_the_listing_groups_the_faults_under_their_area():
    area = None
    listed = []
    for line in faults.listing().splitlines():
        if line and not line.startswith(" "):
            area = line.split()[0]
            assert line.endswith(f"(hivehealth/checks/test_{area}.py)"), line
        elif line:
            name = line.split()[0]
            assert name.startswith(f"{area}:"), (area, line)
            assert line.rstrip().endswith(faults.catalog()[name].description), line
            listed.append(name)
    assert listed == list(faults.catalog())


def test_an_old_name_is_refused_naming_its_new_one_and_an_unknown_one_lists_them_all():
    assert set(faults.RENAMED.values()) <= set(faults.catalog()), \
        set(faults.RENAMED.values()) - set(faults.catalog())
    assert not set(faults.RENAMED) & set(faults.catalog())
    # refused before the lab is even looked at
    with pytest.raises(SystemExit, match=r"unknown fault 'drbd-outdated': it is called 'drbd:outdated' now"):
        faults.inject("drbd-outdated")
    with pytest.raises(SystemExit) as e:
        faults.inject("drbd:nonsense")
    assert "unknown fault 'drbd:nonsense'; one of: " in str(e.value)
    assert all(name in str(e.value) for name in faults.catalog())


@pytest.fixture
def stray_modules(tmp_path, monkeypatch):
    """Write modules into a stand-in lab/faults folder; catalog() collects from it alone."""
    written = []

    def write(name, text):
        (tmp_path / f"{name}.py").write_text("from lab.faults import Fault\n" + text)
        written.append(name)
    monkeypatch.setattr(faults, "__path__", [str(tmp_path)])
    yield write
    for name in written:
        sys.modules.pop(f"lab.faults.{name}", None)
        if hasattr(faults, name):
            delattr(faults, name)


def test_a_fault_in_another_areas_module_or_declared_twice_is_refused(stray_modules):
    stray_modules("hhtest_stray", "FAULTS = [Fault('disk:stray', print, print, 'x')]\n")
    with pytest.raises(RuntimeError, match=r"'disk:stray' is declared in lab/faults/hhtest_stray.py: "
                                           r"a fault named disk:\.\.\. belongs in lab/faults/disk.py"):
        faults.catalog.__wrapped__()


def test_a_name_declared_twice_is_refused(stray_modules):
    stray_modules("hhtest_twice", "FAULTS = [Fault('hhtest_twice:a', print, print, 'x')] * 2\n")
    with pytest.raises(RuntimeError, match=r"'hhtest_twice:a' is declared twice"):
        faults.catalog.__wrapped__()
