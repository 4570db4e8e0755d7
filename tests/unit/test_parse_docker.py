"""Docker CLI parsers on recorded outputs (tests/data/samples/, sources in SOURCES.md there)."""
import json
from pathlib import Path

import pytest

from hivehealth.parsers import ParseError
from hivehealth.parsers import docker

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def sample(rel: str) -> str:
    return (SAMPLES / rel).read_text()


# --- node ls ----------------------------------------------------------------------------------

def test_nodes_json_docs():
    (n,) = docker.parse_nodes(sample("docker-node-ls/format-json-single-leader-docs.jsonl"))
    assert n == docker.Node(id="k8f4w7qtzpj5sqzclcqafw35g", hostname="docker-desktop", status="Ready",
                            availability="Active", manager_status="Leader", self=True, engine_version="23.0.3")


def test_nodes_json_self_as_string_and_array_form():
    # `{{json .}}` through an older template, and a JSON array: both accepted
    text = '[{"ID":"abc *","Hostname":"s-hive0","Status":"Ready","Availability":"Active",' \
           '"ManagerStatus":"","Self":"false","EngineVersion":"26.1.5"}]'
    (n,) = docker.parse_nodes(text)
    assert (n.id, n.self, n.manager_status) == ("abc", False, "")


def test_node_table_self_marker_and_blank_manager_status():
    nodes = docker.parse_node_ls_table(sample("docker-node-ls/table-4node-engine-version-reachable-docs.txt"))
    assert [(n.hostname, n.self, n.manager_status, n.engine_version) for n in nodes] == [
        ("swarm-test-01", True, "Leader", "23.0.3"), ("swarm-test-02", False, "Reachable", "23.0.3"),
        ("swarm-test-03", False, "Reachable", "23.0.3"), ("swarm-test-04", False, "", "23.0.3")]
    assert nodes[0].id == "yg550ettvsjn6g6t840iaiwgb"


def test_node_table_old_layout_without_engine_version():
    nodes = docker.parse_node_ls_table(sample("docker-node-ls/table-worker-down-manager-unreachable-docker113.txt"))
    assert [(n.hostname, n.status, n.manager_status, n.self) for n in nodes] == [
        ("ip-10-10-35-107", "Down", "", False), ("ip-10-10-30-96", "Ready", "", False),
        ("ip-10-10-5-150", "Ready", "Unreachable", False), ("ip-10-10-0-195", "Ready", "Leader", True)]


def test_node_table_long_hostnames_pause():
    nodes = docker.parse_node_ls_table(sample("docker-node-ls/table-managers-pause-unreachable-docker1706.txt"))
    assert nodes[1].hostname == "ip-192-168-121-244.us-west-2.compute.internal"
    assert [n.availability for n in nodes] == ["Pause", "Pause", "Pause", "Active"]
    assert nodes[3].manager_status == "Unreachable"


def test_node_table_golden_tabwriter():
    nodes = docker.parse_node_ls_table(sample("docker-node-ls/golden-node-list-sort.txt"))
    assert [(n.id, n.self, n.engine_version) for n in nodes] == [
        ("nodeID3", False, "1.13.0"), ("nodeID1", True, "."), ("nodeID2", False, "18.03.0-ce")]


def test_node_ls_error_output_is_a_parse_error():
    with pytest.raises(ParseError, match="docker node ls: table header has no 'ID' column"):
        docker.parse_node_ls_table(sample("docker-node-ls/error-swarm-no-leader-stderr.txt"))
    with pytest.raises(ParseError, match=r"docker node ls --format json: line 1 is not JSON"):
        docker.parse_nodes(sample("docker-node-ls/error-swarm-no-leader-stderr.txt"))


# --- service ls -------------------------------------------------------------------------------

def test_services_json_dokploy():
    services = docker.parse_services(sample("docker-service-ls/format-json-8-services-dokploy.jsonl"))
    assert len(services) == 8
    s = services[1]
    assert (s.id, s.name, s.mode, s.replicas_running, s.replicas_desired, s.image) == (
        "1sweo6dr2vrn", "dokploy-postgres", "replicated", 1, 1, "postgres:16")


def test_services_json_zero_of_one():
    (s,) = docker.parse_services(sample("docker-service-ls/format-json-replicas-0of1-docs.jsonl"))
    assert (s.name, s.replicas_running, s.replicas_desired) == ("hello", 0, 1)


@pytest.mark.parametrize("cell, expected", [
    ("1/1", (1, 1)), ("0/3", (0, 3)), ("2/2 (max 1 per node)", (2, 2)), ("0/1 (2/3 completed)", (0, 1)),
    ("", (None, None)), ("n/a", (None, None)),
])
def test_replicas_forms(cell, expected):
    assert docker.parse_replicas(cell) == expected


@pytest.mark.parametrize("cell, expected", [
    ("0/1 (1/1 completed)", (1, 1)), ("1/1 (3/5 completed)", (3, 5)), ("0/0 (3/3 completed)", (3, 3)),
    ("2/2 (max 1 per node)", (None, None)), ("1/1", (None, None)), ("", (None, None)),
])
def test_job_completions(cell, expected):
    assert docker.parse_completed(cell) == expected


def test_job_modes_as_the_cli_and_the_docs_spell_them():
    text = ('{"ID":"a","Image":"i","Mode":"replicated job","Name":"j","Ports":"","Replicas":"0/1 (1/1 completed)"}\n'
            '{"ID":"b","Image":"i","Mode":"global-job","Name":"g","Ports":"","Replicas":"0/0 (3/3 completed)"}\n'
            '{"ID":"c","Image":"i","Mode":"replicated","Name":"r","Ports":"","Replicas":"1/1"}\n')
    assert [(s.is_job, s.completed, s.total) for s in docker.parse_services(text)] == [
        (True, 1, 1), (True, 3, 3), (False, None, None)]


def test_docker_2010_format_json_word_says_why():
    # docker/cli before v23.0 has no `--format json`: the template prints the word for each object
    with pytest.raises(ParseError, match=r"predates Docker 23.0.*\{\{json \.\}\}"):
        docker.parse_nodes("json\njson\njson\n")


def test_service_table_global_job_and_ports():
    rows = docker.parse_service_ls_table(sample("docker-service-ls/table-replicated-global-job-docs.txt"))
    assert [(s.name, s.mode, s.replicas_running, s.replicas_desired) for s in rows] == [
        ("frontend", "replicated", 5, 5), ("redis", "replicated", 3, 3), ("mongo", "global", 7, 7),
        ("job", "replicated-job", 1, 1)]
    assert rows[3].replicas == "1/1 (3/5 completed)"
    rows = docker.parse_service_ls_table(sample("docker-service-ls/table-global-0of3-replicated-0of1-ports.txt"))
    assert [(s.mode, s.replicas_running, s.replicas_desired, s.ports) for s in rows] == [
        ("global", 0, 3, ""), ("replicated", 0, 1, "*:9500->3500/tcp")]


# --- service ps -------------------------------------------------------------------------------

def test_tasks_json_history_and_escaped_ports():
    tasks = docker.parse_tasks(sample("docker-service-ps/format-json-running-and-shutdown-history-dokploy.jsonl"))
    assert len(tasks) == 12
    t = tasks[2]
    assert (t.name, t.service, t.desired_state, t.state, t.ports) == (
        "dokploy-traefik.1", "dokploy-traefik", "Running", "Running",
        "*:80->80/tcp,*:80->80/tcp,*:443->443/tcp,*:443->443/tcp")
    assert [(t.desired_state, t.current_state) for t in tasks if t.name == "dokploy.1"][1] == (
        "Shutdown", "Shutdown 26 hours ago")


def test_tasks_table_hive_failed_to_mount():
    tasks = docker.parse_service_ps_table(sample("docker-service-ps/no-trunc-rejected-failed-to-mount-local-volume-drbd.txt"))
    assert len(tasks) == 5
    t = tasks[0]
    assert (t.id, t.name, t.node, t.desired_state, t.state) == (
        "swcu3n4b70urjtwhdzf92jgh9", "ldap.1", "s-hive1", "Ready", "Rejected")
    assert t.error == ("failed to mount local volume: mount /dev/drbd8:/var/lib/docker/volumes/"
                       "ldap_data/_data: invalid argument")
    assert [t.name for t in tasks[1:]] == ["ldap.1"] * 4     # history rows lose their " \_ " prefix


def test_tasks_table_misaligned_doc_example_is_refused():
    # the doc author hand-edited the spacing: the ERROR cells do not start under ERROR
    with pytest.raises(ParseError, match="docker service ps: row does not line up with the header at 'ERROR'"):
        docker.parse_service_ps_table(sample("docker-service-ps/table-rolling-update-rejected-no-such-image-truncated-docs.txt"))


# --- volume inspect ---------------------------------------------------------------------------

def test_volume_inspect_docs_and_golden():
    (v,) = docker.parse_volume_inspect(sample("docker-volume-inspect/local-volume-docs.json"))
    assert (v["Name"], v["Driver"], docker.volume_device(v)) == ("myvolume", "local", None)
    (v,) = docker.parse_volume_inspect(sample("docker-volume-inspect/golden-volume-inspect-without-format.single-volume.json"))
    assert (v["Name"], docker.volume_device(v)) == ("volume", None)    # Options: null


def test_volume_device_of_a_hive_drbd_volume():
    # no public sample has local-driver Options (SOURCES.md gaps); built as build-volumes creates it
    text = '[{"Driver": "local", "Name": "ldap_data", "Options": {"device": "/dev/drbd1", "type": "xfs"}}]'
    assert docker.volume_device(docker.parse_volume_inspect(text)[0]) == "/dev/drbd1"


@pytest.mark.parametrize("func, text, message", [
    (docker.parse_services, '{"ID": "x", "Name": "y"}\nnot json\n', "line 2 is not JSON"),
    (docker.parse_services, '[1, 2]', "item 1 is int, expected an object"),
    (docker.parse_services, '{"ID": "x", "Mode": "replicated"}', "object without 'Name'"),
    (docker.parse_tasks, '{"ID": 5, "Name": "a.1"}', "'ID' is 5, expected a string"),
    (docker.parse_volume_inspect, '{"Name": "x"}', "expected a JSON array of volume objects"),
    (docker.parse_volume_inspect, '[{"Name": "x"', "invalid JSON"),
])
def test_malformed(func, text, message):
    with pytest.raises(ParseError, match="docker .*" + message):
        func(text)


def test_empty_output_is_empty_list():
    assert docker.parse_nodes("") == [] and docker.parse_services("\n") == [] and docker.parse_tasks("") == []
    assert docker.parse_volume_inspect("") == []


def test_swarm_state_node_inspect_and_container_volume_helpers():
    from hivehealth.parsers import ParseError
    from hivehealth.parsers.docker import node_facts, service_using_volume, swarm_local_state
    assert swarm_local_state('{"LocalNodeState":"locked","NodeID":""}\n') == "locked"
    assert swarm_local_state("Cannot connect to the Docker daemon\n") == "Cannot connect to the Docker daemon"
    nodes = node_facts('[{"ID":"x1","Description":{"Hostname":"s-hive0"},"Spec":{"Role":"manager",'
                       '"Availability":"drain","Labels":{"a":"b"}},"Status":{"State":"ready"}}, "junk"]')
    assert nodes == [{"hostname": "s-hive0", "id": "x1", "role": "manager", "labels": {"a": "b"},
                      "ready": True, "active": False}]
    for bad in ('{"ID": "x"}', "[{"):
        with pytest.raises(ParseError, match="docker node inspect"):
            node_facts(bad)
    ps = ('{"Mounts":"ldap_data,other","Labels":"com.docker.swarm.service.name=ldap,x=y"}\nnot json\n')
    assert service_using_volume(ps, "ldap_data") == "ldap" and service_using_volume(ps, "ldap") is None


# --- task and container names -------------------------------------------------------------------

DATA = SAMPLES.parent


def test_task_and_container_names_give_their_service():
    """`docker service ps` names a task <service>.<slot>; its container (docker ps, docker stats)
    is <service>.<slot>.<task id>. Real outputs: the hive lab (tests/data/captured/SOURCES.md)
    and hive-builder's repair page (history rows indented as ` \\_ ldap.1`)."""
    lab_tasks = docker.parse_tasks((DATA / "captured" / "lab" / "tasks-hive0.jsonl").read_text())
    assert [(t.name, t.service) for t in lab_tasks] == [("ldap.1", "ldap")]
    table = docker.parse_service_ps_table(sample("docker-service-ps/no-trunc-rejected-failed-to-mount-local-volume-drbd.txt"))
    assert {t.service for t in table} == {"ldap"} and len(table) == 5
    golden = docker.parse_service_ps_table(sample("docker-service-ps/golden-task-print-with-indentation.txt"))
    assert [t.service for t in golden] == ["service-name-foo"] * 2
    stats = [json.loads(line)["Name"] for hive in (0, 1, 2) for line in
             (DATA / "captured" / "zabbix" / f"service_stats-hive{hive}-lab-hogs.jsonl").read_text().splitlines()]
    assert {docker.service_of(n) for n in stats} == {"hh-lab-cpu", "hh-lab-mem", "ldap"}
    assert docker.service_of("hh-lab-cpu.1.pcz8hi94fu3o5lwq8v80tlrqd") == "hh-lab-cpu"
    # a global service's task is <service>.<node id> (docker/cli cli/command/task/print.go)
    assert docker.service_of("agent.n6sww6tt8ivf14jw44ydykm63") == "agent"


def test_container_services_from_docker_ps_labels():
    """`docker ps --no-trunc --format json` on the hive lab (tests/data/bundles/lab-three-faults,
    recorded with --record): the swarm service label of each container, by its name."""
    host = json.loads((DATA / "bundles" / "lab-three-faults" / "host-s-hive0.lab.json").read_text())
    ps = host["results"]["containers"]["stdout"]
    owners = docker.container_services(ps)
    assert owners and all(docker.service_of(name) == svc for name, svc in owners.items())
    assert any(name.startswith("ldap.1.") for name in owners)
    labels = docker.parse_labels(json.loads(ps.splitlines()[0])["Labels"])
    assert labels["com.docker.swarm.task"] == "" and labels[docker.SERVICE_LABEL] == owners[
        json.loads(ps.splitlines()[0])["Names"]]
    assert docker.parse_labels({"a": "b"}) == {"a": "b"} and docker.parse_labels(None) == {}
    assert docker.container_services('{"Names":"zabbix-agent","Labels":"maintainer=x"}\n') == {}


def test_a_damaged_volumes_mount_failure_is_told_from_other_task_errors():
    """The task errors docker prints: hive-builder's repair page (XFS refuses the mount: invalid
    argument) and docker's docs (no such image)."""
    hive = docker.parse_service_ps_table(sample("docker-service-ps/no-trunc-rejected-failed-to-mount-local-volume-drbd.txt"))
    assert {docker.local_volume_mount_failure(t.error) for t in hive} == {"invalid argument"}
    docs = docker.parse_service_ps_table(sample("docker-service-ps/no-trunc-rejected-no-such-image-docs.txt"))
    assert any(t.error for t in docs) and all(docker.local_volume_mount_failure(t.error) is None for t in docs)
    assert docker.local_volume_mount_failure(
        "failed to mount local volume: mount /dev/drbd1:/var/lib/docker/volumes/ldap_data/_data: "
        "structure needs cleaning") == "structure needs cleaning"
    assert docker.local_volume_mount_failure("task: non-zero exit (1)") is None


def test_placement_constraints_and_node_times():
    """Constraints as a service spec holds them (tests/data/states/spread); UpdatedAt as
    `docker node inspect` prints it on the hive lab (tests/data/captured/lab/nodes_inspect-hive0.json)."""
    assert docker.parse_constraint("node.labels.first_hive==true") == ("node.labels.first_hive", "==", "true")
    assert docker.parse_constraint("node.role != manager") == ("node.role", "!=", "manager")
    assert docker.parse_constraint("node.platform.os") is None
    (node, *_) = docker.parse_node_inspect((DATA / "captured" / "lab" / "nodes_inspect-hive0.json").read_text())
    assert node["UpdatedAt"] == "2026-11-29T00:25:52.181569184Z"
    assert docker.parse_time(node["UpdatedAt"]) == 1795911952.0      # 2026-11-29 00:25:52 UTC
    assert docker.parse_time("") is None and docker.parse_time(None) is None and docker.parse_time("yesterday") is None
