"""What a run against the lab leaves behind: a recording with no secret in it that replays to the
same answers, private output files, and an HTML report whose ids are the plain server names."""
import json
import shlex
import stat
from pathlib import Path

from conftest import ssh

SERVICE = "hh-secret-env"


def test_record_of_the_lab_holds_no_secret_and_replays(suite, tmp_path):
    ctx = Path(suite.site) / ".hive" / "staging"
    password = (ctx / "registry_password").read_text().strip()
    hive0 = "s-hive0.lab"
    image = ssh(suite.site, hive0, "docker service inspect ldap --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}'").strip()
    # a service that holds secrets in its environment, as sites do (0 replicas: nothing runs)
    ssh(suite.site, hive0, "docker service create --detach --quiet --no-resolve-image --replicas 0 --name " + SERVICE
        + " --env " + shlex.quote(f"DB_PASSWORD={password}") + " --env API_KEY=hh-lab-api-key-1"
        + " --env 'MAIL_TOKEN=hh lab mail token' --env LANG=C " + shlex.quote(image))
    try:
        recorded = suite.run("--record", str(tmp_path / "rec"))
    finally:
        ssh(suite.site, hive0, f"docker service rm {SERVICE}")
    assert recorded.rc == 0, recorded
    files = list((tmp_path / "rec").iterdir())
    text = "".join(p.read_text() for p in files)
    for secret in (password, "hh-lab-api-key-1", "hh lab mail token"):
        assert secret not in text
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o640}
    specs = json.loads((tmp_path / "rec" / f"host-{hive0}.json").read_text())["results"]["service_specs"]
    spec = next(json.loads(line) for line in specs["stdout"].splitlines() if SERVICE in line)
    assert spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["DB_PASSWORD=***", "API_KEY=***",
                                                            "MAIL_TOKEN=***", "LANG=C"]
    replayed = suite.run("--replay", str(tmp_path / "rec"))
    assert replayed.rc == 0, replayed
    # the same answers, but for hostkeys: a replay holds no ssh_config, so it cannot be checked
    live = {c["id"]: c["outcome"] for c in recorded.checks}
    again = {c["id"]: c["outcome"] for c in replayed.checks}
    hostkeys = {i for i in live if "test_hostkeys[" in i}
    assert hostkeys and all(again[i] == "skipped" for i in hostkeys), again
    assert {i: o for i, o in again.items() if i not in hostkeys} == {i: o for i, o in live.items() if i not in hostkeys}
    for name in ("latest.json", "latest.html"):
        assert stat.S_IMODE((suite.reports / name).stat().st_mode) == 0o640
    assert "test_disk[s-hive0.lab]" in (suite.reports / "latest.html").read_text()
