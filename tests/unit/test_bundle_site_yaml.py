"""The site's YAML files are data with bounds: an alias bomb (a few hundred bytes standing for
hundreds of millions of values) in the waivers file, persistents.yml or inventory/hive.yml is a
usage error naming the file and line, within seconds and without the memory it would take to
expand it; aliases within the bounds still load; a file larger than a site file holds is not read."""
import pytest

from bundle_run import crashed, hive_health
from test_cli import _unreachable_project
from hivehealth.site.bounded_yaml import MAX_BYTES
from hivehealth.site.inventory import InventoryError, load_hive_project


def bomb(levels=9, key="x") -> str:
    """Billion laughs: 9 levels of 9 aliases, 9**9 values once expanded, in about 500 bytes."""
    lines = [f'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines.append(f"{key}: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def _usage_error(tmp_path, site, *args):
    rc, out = hive_health("--hive-root", site, "-o", f"report_dir={tmp_path / 'r'}", "-k", "disk", *args,
                          cwd=tmp_path, timeout=60)
    assert rc == 4 and not crashed(out), out
    return out


def test_alias_bomb_in_the_waivers_file(tmp_path):
    site = _unreachable_project(tmp_path / "site")
    waivers = tmp_path / "waivers.yml"
    text = bomb(key="boom")
    waivers.write_text(text + "waivers:\n  - check: *l8\n    justification: x\n    expires: 2999-12-31\n")
    out = _usage_error(tmp_path, site, "-o", f"waivers_file={waivers}")
    assert f"waiver file {waivers}, line " in out and "aliases expand to more than" in out, out


@pytest.mark.parametrize("where", [".hive/persistents.yml", "inventory/hive.yml"])
def test_alias_bomb_in_the_sites_files(tmp_path, where):
    site = _unreachable_project(tmp_path / "site")
    path = site / where
    path.write_text(path.read_text() + bomb())
    out = _usage_error(tmp_path, site)
    assert f"{path}, line " in out and "aliases expand to more than" in out, out


def test_aliases_within_bounds_and_a_value_that_contains_itself(tmp_path):
    site = _unreachable_project(tmp_path / "site")
    persist = site / ".hive" / "persistents.yml"
    # as a YAML dumper writes one mapping used twice
    persist.write_text("stage: {global: staging}\ndrbd_device_map:\n  staging: &m {ldap_data: 1}\n  private: *m\n")
    assert load_hive_project(site).drbd_device_map == {"ldap_data": 1}
    persist.write_text("stage: {global: staging}\nno_format: &n\n  global: [*n]\n")
    with pytest.raises(InventoryError, match=r"persistents.yml, line 2: an alias refers to a value that contains it"):
        load_hive_project(site)


def test_a_site_file_larger_than_a_site_file_holds_is_not_read(tmp_path):
    site = _unreachable_project(tmp_path / "site")
    persist = site / ".hive" / "persistents.yml"
    persist.write_text("stage: {global: staging}\n" + "#" * MAX_BYTES + "\n")
    out = _usage_error(tmp_path, site)
    assert f"{persist}: larger than {MAX_BYTES} bytes" in out, out
