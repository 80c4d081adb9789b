"""The operator (kopf) against kmock's Kubernetes emulator: what the real control plane cannot stage on cue.

The operator's cases live on the real control plane (test_operator_on_cluster.py,
test_operator_cases_on_cluster.py, test_routes_on_cluster.py). What stays here is a state of the
cluster that its controllers or the tests' kubelet (tests/harness/kubelet.py) cannot be made to show
when a test wants it; the tests play those controllers over HTTP (tests/harness/controllers.py):

- a pod Ready whose Service has no ready endpoint yet: the EndpointSlice controller closes that gap
  within moments, never on cue;
- a kubeconfig Secret that cannot be mounted: a kubelet says so only in a FailedMount Event, and the
  tests' kubelet writes no Events;
- the VirtualService and Gateway API modes, until test_routes_on_cluster.py has them all;
- a refusal on cue: RBAC's (403), and a namespace's that is being deleted, which the real control
  plane says only in the moments between that namespace's deletion and its end.
"""

from __future__ import annotations

import logging

import pytest

from jupyter_cloudtty.cloudshell.spec import EXPOSURE_MODES
from jupyter_cloudtty.operator.settings import GatewayRef, Settings, ShellPolicy
from tests.harness.controllers import (
    NS,
    Running,
    cloudshell,
    phase_of,
    ready_endpoint,
    run_pod,
    wait_phase,
)
from tests.harness.emulator import Api
from tests.harness.waiting import eventually

GATEWAY = GatewayRef("gw", "infra", hostname="shells.example.com", https=True)
EVERY_MODE = ShellPolicy(exposure_modes=EXPOSURE_MODES)  # the modes are staged here, the policy elsewhere


async def gateway_says(api: Api, condition: dict[str, str], name: str = "s1") -> None:
    """Play the Gateway controller: its verdict on the shell's HTTPRoute."""
    status = {"parents": [{"parentRef": {"name": "gw"}, "conditions": [condition]}]}
    await api.patch("HTTPRoute", NS, f"cloudshell-{name}", {"status": status}, "status")


async def released(api: Api, name: str = "s1", kinds=("Job", "Service", "ServiceAccount", "RoleBinding")) -> None:
    """Wait until an ended shell holds nothing any more (no NodePort outlives its shell)."""

    async def nothing_left() -> bool:
        return all([await api.get(kind, NS, f"cloudshell-{name}") is None for kind in kinds])

    await eventually(nothing_left, what="the shell's objects released")


@pytest.mark.slow
async def test_not_ready_while_the_pod_is_ready_but_its_service_has_no_ready_endpoint():
    """Here only: on the real control plane the EndpointSlice controller makes the endpoint moments after
    the pod is Ready, and that gap cannot be held open on cue (there, test_operator_cases_on_cluster.py
    checks the phases, the URL and the endpoint a Ready shell has)."""
    async with Running() as api:
        await api.create(cloudshell())
        await wait_phase(api, "CreatedRouteRule")
        service = await api.get("Service", NS, "cloudshell-s1")
        await api.patch("Service", NS, "cloudshell-s1",
                        {"spec": {"ports": [{**service["spec"]["ports"][0], "nodePort": 31234}]}})  # fmt: skip
        await run_pod(api)

        # The pod is Ready but the Service has no ready endpoint yet: not Ready (an upstream gap).
        async def says_endpoint() -> bool:
            shell = await api.get("CloudShell", NS, "s1")
            return "endpoint" in shell["status"]["conditions"][0]["message"]

        await eventually(says_endpoint, what="waiting for the endpoint")
        assert await phase_of(api) == "CreatedRouteRule"
        await ready_endpoint(api)
        shell = await wait_phase(api, "Ready")
        assert shell["status"]["accessUrl"] == "203.0.113.5:31234"  # a Ready node's ExternalIP


async def test_gateway_mode_without_a_gateway_configured_fails_clearly():
    async with Running() as api:
        await api.create(cloudshell(exposureMode="GatewayAPI"))
        shell = await wait_phase(api, "Failed")
        assert "GatewayAPI mode is not enabled" in shell["status"]["conditions"][-1]["message"]


@pytest.mark.slow
async def test_a_route_the_gateway_refuses_fails_with_its_reason():
    settings = Settings(gateway=GATEWAY, policy=EVERY_MODE)
    async with Running(settings) as api:
        await api.create(cloudshell(exposureMode="GatewayAPI"))
        await wait_phase(api, "CreatedRouteRule")
        route = await api.get("HTTPRoute", NS, "cloudshell-s1")
        assert route["spec"]["parentRefs"][0]["name"] == "gw"
        refused = {"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners",
                   "message": "no listener allows routes from namespace team"}  # fmt: skip
        await gateway_says(api, refused)
        shell = await wait_phase(api, "Failed")
        message = shell["status"]["conditions"][-1]["message"]
        assert "NotAllowedByListeners" in message and "no listener allows" in message


@pytest.mark.slow
async def test_gateway_mode_ready_once_accepted():
    settings = Settings(gateway=GATEWAY, policy=EVERY_MODE)
    async with Running(settings) as api:
        await api.create(cloudshell(exposureMode="GatewayAPI"))
        await wait_phase(api, "CreatedRouteRule")
        await run_pod(api)
        await ready_endpoint(api)
        accepted = {"type": "Accepted", "status": "True", "reason": "Accepted", "message": ""}
        await gateway_says(api, accepted)
        shell = await wait_phase(api, "Ready")
        assert shell["status"]["accessUrl"] == "https://shells.example.com/apis/v1alpha1/cloudshell/s1/"


@pytest.mark.slow
async def test_virtual_service_mode_shares_one_virtual_service():
    async with Running() as api:
        config = {"gateway": "istio-system/gw", "export_to": "."}
        for name in ("s1", "s2"):
            await api.create(cloudshell(name, exposureMode="VirtualService", virtualServiceConfig=config))
            await wait_phase(api, "CreatedRouteRule", name)
        vs = await api.get("VirtualService", NS, "cloudshell-virtualservice")
        assert vs["spec"]["gateways"] == ["istio-system/gw"] and vs["spec"]["exportTo"] == ["."]
        assert [r["match"][0]["uri"]["prefix"] for r in vs["spec"]["http"]] == [
            "/apis/v1alpha1/cloudshell/s1", "/apis/v1alpha1/cloudshell/s2"]  # fmt: skip
        await run_pod(api, "s2")
        await ready_endpoint(api, "s2")
        shell = await wait_phase(api, "Ready", "s2")
        assert shell["status"]["accessUrl"] == "/apis/v1alpha1/cloudshell/s2/"
        await api.patch("Job", NS, "cloudshell-s2", {"status": {"succeeded": 1}}, "status")
        await wait_phase(api, "Complete", "s2")
        await released(api, "s2")
        vs = await api.get("VirtualService", NS, "cloudshell-virtualservice")
        assert [r["match"][0]["uri"]["prefix"] for r in vs["spec"]["http"]] == ["/apis/v1alpha1/cloudshell/s1"]


@pytest.mark.slow
async def test_a_missing_kubeconfig_secret_fails_the_shell():
    """Here only: a kubelet that cannot mount a Secret keeps the pod ContainerCreating and says why in a
    FailedMount Event alone; the tests' kubelet writes no Events (it reports the pod's waiting state)."""
    async with Running(
        Settings(policy=ShellPolicy(exposure_modes=EXPOSURE_MODES, kubeconfig_secrets=("nope",)))
    ) as api:
        await api.create(cloudshell(secretRef={"name": "nope"}))
        await wait_phase(api, "CreatedRouteRule")
        await run_pod(api, ready=False)
        mount = 'MountVolume.SetUp failed for volume "kubeconfig" : secret "nope" not found'
        await api.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "cloudshell-s1-x7k2p.1", "namespace": NS},
                "involvedObject": {"kind": "Pod", "name": "cloudshell-s1-x7k2p", "namespace": NS},
                "reason": "FailedMount",
                "type": "Warning",
                "message": mount,
            }
        )
        shell = await wait_phase(api, "Failed")
        failed = shell["status"]["conditions"][-1]
        assert failed["reason"] == "KubeconfigNotMounted" and 'secret "nope" not found' in failed["message"]
        await released(api, kinds=("Job", "Service"))


BINDINGS = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings"


async def events_of(api: Api, reason: str) -> list[dict]:
    return [e for e in await api.list("Event", NS) if e.get("reason") == reason]


@pytest.mark.slow
async def test_a_refusal_fails_the_shell_saying_what_the_operator_may_not_do():
    async with Running() as api:
        api.k8s.refuse("POST", BINDINGS, 403, "Forbidden", 'rolebindings.rbac.authorization.k8s.io is forbidden: '
                       'User "system:serviceaccount:ops:operator" cannot create resource "rolebindings"')  # fmt: skip
        await api.create(cloudshell())
        failed = (await wait_phase(api, "Failed"))["status"]["conditions"][-1]
        assert (failed["reason"], failed["message"].split(": ")[0]) == ("Forbidden", "the operator may not do this")
        assert 'cannot create resource "rolebindings"' in failed["message"]

        async def said() -> bool:
            return bool(await events_of(api, "Forbidden"))

        await eventually(said, what="a Forbidden Event")


@pytest.mark.slow
async def test_a_shell_whose_namespace_is_being_deleted_is_left_to_go_with_it(caplog):
    caplog.set_level(logging.INFO, logger="jupyter_cloudtty.operator.reconciler")
    causes = [{"reason": "NamespaceTerminating", "message": f"namespace {NS} is being terminated",
               "field": "metadata.namespace"}]  # fmt: skip
    async with Running() as api:
        api.k8s.refuse("POST", BINDINGS, 403, "Forbidden", f'rolebindings.rbac.authorization.k8s.io "cloudshell-s1" is '
                       f"forbidden: unable to create new content in namespace {NS} because it is being terminated",
                       details={"name": "cloudshell-s1", "kind": "rolebindings", "causes": causes})  # fmt: skip
        await api.create(cloudshell())

        async def gave_up() -> bool:
            return any("its namespace is being deleted" in r.getMessage() for r in caplog.records)

        await eventually(gave_up, what="the operator leaving the shell to its namespace's end")
        # Not failed, and no Warning that an administrator would chase (nor could one be written there).
        shell = await api.get("CloudShell", NS, "s1")
        assert (shell.get("status") or {}).get("phase") != "Failed"
        assert await events_of(api, "Forbidden") == []
