"""A shell's route beyond an Ingress, on the real control plane: Istio VirtualService and Gateway API modes.

The cluster has the CRDs Istio and the Gateway API publish (tests/harness/route_crds.py), so the real
API server checks what the chart's operator writes, under the chart's RBAC, against their schemas. No
Istio or gateway controller runs: a VirtualService is only stored, and the test plays the gateway
controller that judges an HTTPRoute (it writes the route's status, as one would). The terminal
answers through the API server's service proxy under the route's path, where ttyd serves it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import answers, kubectl_json, ready, terminal

pytestmark = pytest.mark.slow

GATEWAY_CONTROLLER = "gateways.example.com/tests"  # the controller the test plays


def apply(cluster, namespace: str, shells: dict[str, dict]) -> None:
    """CloudShells applied at once with kubectl, as a user would."""
    items = [{"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": name},
              "spec": spec} for name, spec in shells.items()]  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                          "items": items}))  # fmt: skip


def assert_no_errors(release: Installed) -> None:
    """The operator was refused nothing (RBAC) and did not crash."""
    assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


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
    async with Installed(cluster, namespace, tmp_path) as release:
        apply(cluster, namespace, {name: spec for name in path})
        for name in path:
            assert ready(cluster, namespace, name)["status"]["accessUrl"] == f"{path[name]}/?ttl=500"
            await answers(await terminal(cluster, namespace, f"cloudshell-{name}", path[name]))

        shared = kubectl_json(cluster, "get", "virtualservice", "cloudshell-vs-demo", "-n", namespace)
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


# --- Gateway API mode ---------------------------------------------------------------------------------


@pytest.fixture
def gateway(control_plane, namespace):
    """The cluster's Gateway, as its owner creates it: a GatewayClass and, in a namespace of the
    gateway's own where the operator has no rights, a Gateway with a listener for the shells.
    Yields the chart's values that attach shells' routes to it."""
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
    yield {"gateway": {"name": "shells", "namespace": owner, "sectionName": "web", "hostname": "shells.example.com"}}
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
        await answers(await terminal(cluster, namespace, "cloudshell-gw", path))

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
