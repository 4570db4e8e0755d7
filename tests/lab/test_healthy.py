"""A healthy lab passes every check of the suite, sequentially and with -n."""


def test_healthy_lab_is_all_green(suite):
    r = suite.run()
    assert r.rc == 0, r
    assert r.failed() == {}, r
    areas = {c["area"] for c in r.checks if c["outcome"] == "passed"}
    assert {"disk", "units", "drbd", "swarm", "services", "registry"} <= areas, areas
    hosts = {c["id"].split("[")[-1].rstrip("]") for c in r.checks if c["area"] == "disk"}
    assert hosts == {s["name"] for s in r.doc["servers"]}


def test_parallel_run_gives_the_same_answers(suite):
    sequential = suite.run()
    parallel = suite.run("-n", "2")
    assert parallel.rc == 0, parallel
    assert {c["id"]: c["outcome"] for c in parallel.checks} == \
           {c["id"]: c["outcome"] for c in sequential.checks}


def test_k_words_select_their_area(suite):
    r = suite.run("-k", "drbd")
    assert r.rc == 0, r
    # the DRBD resources, and the drbd-resource@ units that bring them up at boot
    assert r.checks and {c["area"] for c in r.checks} == {"drbd", "drbd_units"}
    # a server's full name selects its items and its own view in cluster objects: its swarm
    # node, whose item is keyed by the short name
    r = suite.run("-k", "s-hive1.lab")
    assert r.checks and all("s-hive1.lab" in c["id"] or c["id"].endswith("[s-hive1]") for c in r.checks)
    assert any(c["area"] == "swarm" and c["id"].endswith("[s-hive1]") for c in r.checks), r.checks


def test_reports_are_written(suite):
    assert suite.run().doc is not None
    html = (suite.reports / "latest.html").read_text()
    assert "s-hive0.lab" in html and "staging" in html
    dated = list(suite.reports.glob("run-*.json"))
    assert dated, "no dated copy of the JSON report"
