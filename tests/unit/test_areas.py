"""An area is found from its own modules: its check module declares the probe sections it reads,
its fix module (same name) declares remedies that name the check function itself."""
import pytest

from hivehealth import checks, fixes
from hivehealth.gather import sections
from hivehealth.remedy import plan


def test_every_fix_module_has_the_name_of_a_check_module_and_answers_only_its_checks():
    areas = {m.__name__.rsplit(".", 1)[1].removeprefix("test_") for m in checks.modules()}
    for module in fixes.modules():
        area = module.__name__.rsplit(".", 1)[1]
        assert area in areas, f"fixes/{area}.py has no checks/test_{area}.py"
    assert plan.validate() == []
    for where, check in plan._DECLARED:
        area = where.split(".")[2]
        assert check.__module__ == f"hivehealth.checks.test_{area}", (where, check.__module__)


def test_every_section_is_declared_by_a_check_module():
    checks.modules()
    owners = set(sections.DECLARED_BY.values())
    assert owners <= {m.__name__ for m in checks.modules()} | {sections.__name__}, owners
    assert {"df", "drbd_json", "nodes", "services", "units_failed", "backup_files"} <= set(sections.SECTIONS)


def test_a_section_declared_again_with_another_command_names_both_modules(monkeypatch):
    checks.modules()
    monkeypatch.setattr(sections, "SECTIONS", dict(sections.SECTIONS))
    sections.declare("mine", df=("all", "$SUDO df -P -T -k"))        # the same: fine
    with pytest.raises(sections.SectionError, match=r"mine: section df is already declared by "
                                                    r"hivehealth.checks.test_disk"):
        sections.declare("mine", df=("all", "df -h"))
    with pytest.raises(sections.SectionError, match="who"):
        sections.declare("mine", other=("everyone", "true"))


def test_a_remedy_names_its_check_function_not_a_string(monkeypatch):
    monkeypatch.setattr(plan, "_REGISTRY", {})
    monkeypatch.setattr(plan, "_DECLARED", [])
    with pytest.raises(TypeError, match="give the check function"):
        @plan.remedy("disk_usage", tier=plan.SAFE)
        def by_name(ctx, server, verdict):
            return None

    def not_a_check(ctx, server):
        return None

    @plan.remedy(not_a_check, tier=plan.SAFE)
    def answers_nothing(ctx, server, verdict):
        return None
    problems = plan.validate()
    assert len(problems) == 1 and "answers_nothing" in problems[0] and "not the check function" in problems[0]
