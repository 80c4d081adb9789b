"""A shell's route on the real control plane: Istio VirtualService and Gateway API modes, and what a
shell may not make the operator do to a shared Ingress or VirtualService.

The cluster has the CRDs Istio and the Gateway API publish (tests/harness/route_crds.py), so the real
API server checks what the chart's operator writes, under the chart's RBAC, against their schemas. No
Istio or gateway controller runs: a VirtualService is only stored, and the test plays the gateway
controller that judges an HTTPRoute (it writes the route's status, as one would). The terminal
answers through the API server's service proxy under the route's path and the shell's token, where
ttyd serves it. The chart's policy allows ClusterIP shells only by default: each test's values allow
its modes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import answers, kubectl_json, ready, refused, shell_terminal

pytestmark = pytest.mark.slow

GATEWAY_CONTROLLER = "gateways.example.com/tests"  # the controller the test plays
MANAGED = {"app.kubernetes.io/managed-by": "jupyter-cloudtty-operator", "cloudshell.cloudtty.io/shared": "true"}


def allowing(*modes: str) -> dict:
    """The chart's values that let shells use these exposure modes."""
    return {"policy": {"exposureModes": list(modes)}}


def apply(cluster, namespace: str, shells: dict[str, dict]) -> None:
    """CloudShells applied at once with kubectl, as a user would."""
    items = [{"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": name},
              "spec": spec} for name, spec in shells.items()]  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                          "items": items}))  # fmt: skip


def assert_no_errors(release: Installed) -> None:
    """The operator was refused nothing (RBAC) and did not crash."""
    assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


async def answers_at(cluster, namespace: str, shell: str, path: str) -> None:
    """The shell's terminal answers under its route path, with its token (in its Secret) after it."""
    await answers(await shell_terminal(cluster, namespace, shell, path))


# --- VirtualService mode ------------------------------------------------------------------------------


def routes(cluster, namespace: str, virtual_service: str) -> dict[str, dict]:
    """The shared VirtualService's HTTP routes as stored: each path prefix and where it leads."""
    stored = kubectl_json(cluster, "get", "virtualservice", virtual_service, "-n", namespace)
    return {r["match"][0]["uri"]["prefix"]: r["route"][0]["destination"] for r in stored["spec"]["http"]}


async def test_virtual_service_shells_share_one_virtual_service(control_plane, node, namespace, tmp_path):
    """Two shells as CloudTTY's VirtualService sample writes them: both Ready with their paths, one
    VirtualService holding both routes as the operator wrote them (nothing pruned by Istio's schema),
    each terminal answering under its path; deleting a shell takes out only its route, the last one
    the VirtualService."""
    cluster = control_plane
    spec = {  # CloudTTY's config/samples/vs_v1alpha1_cloudshell.yaml in this namespace, minus configmapName, runAsUser
        "commandAction": "bash", "exposureMode": "VirtualService", "pathPrefix": "/apis/cloudtty.io/", "ttl": 500,
        "once": False,
        "virtualServiceConfig": {"virtualServiceName": "cloudshell-vs-demo", "namespace": namespace,
                                 "gateway": "istio-system/istio-gateway", "export_to": "istio-system"},
    }  # fmt: skip
    path = {name: f"/apis/cloudtty.io/apis/v1alpha1/cloudshell/{name}" for name in ("vs-1", "vs-2")}
    destination = {
        name: {"host": f"cloudshell-{name}.{namespace}.svc.cluster.local", "port": {"number": 7681}} for name in path
    }
    async with Installed(cluster, namespace, tmp_path, allowing("VirtualService")) as release:
        apply(cluster, namespace, {name: spec for name in path})
        for name in path:
            assert ready(cluster, namespace, name)["status"]["accessUrl"] == f"{path[name]}/?ttl=500"
            await answers_at(cluster, namespace, name, path[name])

        shared = kubectl_json(cluster, "get", "virtualservice", "cloudshell-vs-demo", "-n", namespace)
        assert shared["metadata"]["labels"] == MANAGED  # the operator's: the only kind it edits or deletes
        assert shared["spec"]["gateways"] == ["istio-system/istio-gateway"]
        assert shared["spec"]["exportTo"] == ["istio-system"]
        assert routes(cluster, namespace, "cloudshell-vs-demo") == {path[n]: destination[n] for n in path}

        # kubectl returns once the shell is gone: after the operator took its route out (its finalizer).
        cluster.kubectl("delete", "cloudshell", "vs-1", "-n", namespace, "--timeout=60s")
        assert routes(cluster, namespace, "cloudshell-vs-demo") == {path["vs-2"]: destination["vs-2"]}
        cluster.kubectl("delete", "cloudshell", "vs-2", "-n", namespace, "--timeout=60s")
        cluster.kubectl("wait", "--for=delete", "virtualservice/cloudshell-vs-demo", "-n", namespace,
                        "--timeout=30s")  # fmt: skip
    assert_no_errors(release)


# --- a shared route is the operator's, never a shell's to steer ------------------------------------------


async def test_a_shell_cannot_make_the_operator_touch_what_it_did_not_create_or_steer_a_shared_route(
    control_plane, node, namespace, tmp_path
):
    """issue 17's confused deputy. A shell naming the administrator's Ingress is refused, and that
    Ingress is never written, not when the shell fails nor when it is deleted (it has no rules: taking
    out the shell's path would have left none, and the Ingress would have gone). A shell's annotations,
    a class other than the shared Ingress's, a VirtualService in another namespace: refused, naming
    the field, before anything is made for the shell. The shared Ingress the operator creates carries
    its label and the administrator's annotations, and only the path of the shell it routes to."""
    cluster = control_plane
    platform = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "platform", "namespace": namespace, "annotations": {"team": "platform"}},
                "spec": {"defaultBackend": {"service": {"name": "platform-web", "port": {"number": 80}}}}}  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=json.dumps(platform))
    before = kubectl_json(cluster, "get", "ingress", "platform", "-n", namespace)
    annotations = {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"}
    values = {**allowing("Ingress", "VirtualService"), "shell": {"ingressAnnotations": annotations}}
    host = {"host": "shells.example.com"}
    async with Installed(cluster, namespace, tmp_path, values) as release:
        mine = {"exposureMode": "Ingress", "ingressConfig": {**host, "ingressClassName": "nginx"}}
        apply(cluster, namespace, {"mine": mine})
        ready(cluster, namespace, "mine")  # the shared Ingress is made: the next shells meet it
        snippet = {"nginx.ingress.kubernetes.io/configuration-snippet": "return 200 'owned';"}
        _, mark = cluster.audit()
        apply(cluster, namespace, {
            "takeover": {"exposureMode": "Ingress", "ingressConfig": {**host, "ingressName": "platform"}},
            "snippet": {"exposureMode": "Ingress", "ingressConfig": {**host, "annotations": snippet}},
            "public": {"exposureMode": "Ingress", "ingressConfig": {**host, "ingressClassName": "public"}},
            "istio": {"exposureMode": "VirtualService",
                      "virtualServiceConfig": {"namespace": "default", "gateway": "istio-system/gw"}},
        })  # fmt: skip
        said = {name: refused(cluster, namespace, name) for name in ("takeover", "snippet", "public", "istio")}
        assert said["takeover"] == (
            "spec.ingressConfig.ingressName: Ingress 'platform' was not created by the operator; name another"
        )
        assert said["snippet"].startswith("spec.ingressConfig.annotations: ")
        shared_class = "Ingress 'cloudshell-ingress', shared by shells, has class 'nginx'"
        assert said["public"].startswith(f"spec.ingressConfig.ingressClassName: {shared_class}")
        assert said["istio"].startswith("spec.virtualServiceConfig.namespace: ")
        created = {e["objectRef"]["resource"] for e in cluster.audit(mark)[0]
                   if e["user"]["username"] == release.operator_user and e["verb"] == "create"}  # fmt: skip
        assert created == {"events"}, "a shell the route refuses is refused before anything is made for it"

        shared = kubectl_json(cluster, "get", "ingress", "cloudshell-ingress", "-n", namespace)
        assert shared["metadata"]["labels"] == MANAGED and shared["metadata"]["annotations"] == annotations
        assert shared["spec"]["ingressClassName"] == "nginx"
        [rule] = shared["spec"]["rules"]
        assert [p["backend"]["service"]["name"] for p in rule["http"]["paths"]] == ["cloudshell-mine"]
        assert cluster.kubectl("get", "virtualservice", "cloudshell-virtualservice", "-n", "default",
                               "--ignore-not-found", "-o", "name") == ""  # fmt: skip

        # kubectl returns once the shells are gone: after the operator handled their routes (its finalizer).
        cluster.kubectl("delete", "cloudshells", "--all", "-n", namespace, "--timeout=60s")
        cluster.kubectl("wait", "--for=delete", "ingress/cloudshell-ingress", "-n", namespace, "--timeout=30s")
    after = kubectl_json(cluster, "get", "ingress", "platform", "-n", namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]  # never written
    assert_no_errors(release)


# --- Gateway API mode ---------------------------------------------------------------------------------


@pytest.fixture
def gateway(control_plane, namespace):
    """The cluster's Gateway, as its owner creates it: a GatewayClass and, in a namespace of the
    gateway's own where the operator has no rights, a Gateway with a listener for the shells.
    Yields the chart's values for GatewayAPI shells, their routes attached to it."""
    cluster, owner = control_plane, f"{namespace}-gateways"
    cluster.kubectl("create", "namespace", owner)
    objects = [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": owner},
         "spec": {"controllerName": GATEWAY_CONTROLLER}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": "shells", "namespace": owner},
         "spec": {"gatewayClassName": owner, "listeners": [
             {"name": "web", "protocol": "HTTP", "port": 80, "hostname": "shells.example.com",
              "allowedRoutes": {"namespaces": {"from": "All"}}}]}},
    ]  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    yield {"gateway": {"name": "shells", "namespace": owner, "sectionName": "web", "hostname": "shells.example.com"},
           **allowing("GatewayAPI")}  # fmt: skip
    cluster.kubectl("delete", "namespace", owner, "--wait=false")
    cluster.kubectl("delete", "gatewayclass", owner, "--wait=false")


def gateway_says(cluster, namespace: str, shell: str, accepted: bool, reason: str, message: str) -> None:
    """Play the gateway controller: its verdict on the shell's HTTPRoute, written in the route's status."""
    route = kubectl_json(cluster, "get", "httproute", f"cloudshell-{shell}", "-n", namespace)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    verdict = {"type": "Accepted", "status": "True" if accepted else "False", "reason": reason, "message": message,
               "observedGeneration": route["metadata"]["generation"], "lastTransitionTime": now}  # fmt: skip
    parents = [{"parentRef": parent, "controllerName": GATEWAY_CONTROLLER, "conditions": [verdict]}
               for parent in route["spec"]["parentRefs"]]  # fmt: skip
    cluster.kubectl("patch", "httproute", f"cloudshell-{shell}", "-n", namespace, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": {"parents": parents}}))  # fmt: skip


def wait_for_message(cluster, namespace: str, shell: str, message: str) -> None:
    """Until the shell's Ready condition says ``message`` (``kubectl wait``: a watch)."""
    cluster.kubectl("wait", f"--for=jsonpath={{.status.conditions[0].message}}={message}", f"cloudshell/{shell}",
                    "-n", namespace, "--timeout=60s")  # fmt: skip


async def test_a_shell_is_ready_once_the_gateway_accepts_its_route(control_plane, node, namespace, tmp_path, gateway):
    """The HTTPRoute attaches to the Gateway the chart names; the shell waits for the gateway's
    verdict, is Ready with the gateway's URL once it is Accepted, and its route goes with it."""
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path, gateway) as release:
        apply(cluster, namespace, {"gw": {"commandAction": "bash", "exposureMode": "GatewayAPI"}})
        wait_for_message(cluster, namespace, "gw", "waiting for the Gateway to accept the route")  # pod Ready
        route = kubectl_json(cluster, "get", "httproute", "cloudshell-gw", "-n", namespace)
        path = "/apis/v1alpha1/cloudshell/gw"
        assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                "namespace": f"{namespace}-gateways", "name": "shells",
                                                "sectionName": "web"}]  # fmt: skip
        assert route["spec"]["hostnames"] == ["shells.example.com"]
        [rule] = route["spec"]["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": path}}]
        assert [(b["name"], b["port"]) for b in rule["backendRefs"]] == [("cloudshell-gw", 7681)]

        gateway_says(cluster, namespace, "gw", True, "Accepted", "")
        assert ready(cluster, namespace, "gw")["status"]["accessUrl"] == f"http://shells.example.com{path}/"
        await answers_at(cluster, namespace, "gw", path)

        cluster.kubectl("delete", "cloudshell", "gw", "-n", namespace, "--timeout=60s")
        # Owned by the shell: the garbage collector takes it (it knows the kind: the CRDs came first).
        cluster.kubectl("wait", "--for=delete", "httproute/cloudshell-gw", "-n", namespace, "--timeout=30s")
    assert_no_errors(release)


async def test_a_route_the_gateway_refuses_fails_the_shell_with_its_reason(
    control_plane, node, namespace, tmp_path, gateway
):
    """The gateway refuses the route: the shell is Failed with the gateway's reason and message in
    its conditions, and keeps nothing (no route, Job or Service)."""
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path, gateway) as release:
        apply(cluster, namespace, {"refused": {"exposureMode": "GatewayAPI"}})
        cluster.kubectl("wait", "--for=create", "httproute/cloudshell-refused", "-n", namespace, "--timeout=30s")
        why = "no listener of shells allows routes from this namespace"
        gateway_says(cluster, namespace, "refused", False, "NotAllowedByListeners", why)

        failed = ready(cluster, namespace, "refused", "Failed")["status"]["conditions"]
        assert [(c["type"], c["status"], c["reason"]) for c in failed] == [
            ("Ready", "False", "RouteNotAccepted"), ("Failed", "True", "RouteNotAccepted")]  # fmt: skip
        assert failed[-1]["message"] == f"the Gateway refused the route: NotAllowedByListeners: {why}"
        cluster.kubectl("wait", "--for=delete", "httproute/cloudshell-refused", "job/cloudshell-refused",
                        "service/cloudshell-refused", "-n", namespace, "--timeout=30s")  # fmt: skip
    assert_no_errors(release)
