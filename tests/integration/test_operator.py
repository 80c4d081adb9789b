"""The operator (kopf) against kmock's Kubernetes emulator: a real HTTP API, real watches.

What Kubernetes' own controllers would do (the Job controller starting a pod, the kubelet
marking it Ready, EndpointSlices, a Gateway accepting a route) the tests do over HTTP
(tests/harness/controllers.py); where a test needs the pod itself, ``serve_on_node_port`` runs the
Job's container as a real pod (the real ttyd in the shell image's files, tests/harness/pods.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_cloudtty.operator.settings import GatewayRef, Settings
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.controllers import (
    NS,
    Running,
    cloudshell,
    phase_of,
    pod_name,
    ready_endpoint,
    run_pod,
    serve_on_node_port,
    wait_phase,
)
from tests.harness.emulator import Api, Operator, emulated_kubernetes
from tests.harness.waiting import eventually


async def gateway_says(api: Api, condition: dict[str, str], name: str = "s1") -> None:
    """Play the Gateway controller: its verdict on the shell's HTTPRoute."""
    status = {"parents": [{"parentRef": {"name": "gw"}, "conditions": [condition]}]}
    await api.patch("HTTPRoute", NS, f"cloudshell-{name}", {"status": status}, "status")


async def test_create_renders_the_objects_and_sets_the_phase():
    async with emulated_kubernetes() as k8s:
        api = Api(k8s)
        operator = await Operator(k8s, Settings(image="registry.example/shell:1")).start()
        try:
            created = await api.create(cloudshell())
            shell = await wait_phase(api, "CreatedRouteRule")
            assert phases_written(api) == ["CreatedJob", "CreatedRouteRule"]  # as the CRD documents them
            assert shell["spec"]["image"] == "registry.example/shell:1"  # the default, written back
            job = await api.get("Job", NS, "cloudshell-s1")
            assert job is not None
            assert job["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
            container = job["spec"]["template"]["spec"]["containers"][0]
            assert container["command"] == ["ttyd", "-W", "-p", "7681", "sh", "-c", "bash"]
            service = await api.get("Service", NS, "cloudshell-s1")
            assert service is not None and service["spec"]["type"] == "NodePort"
            assert await api.get("ServiceAccount", NS, "cloudshell-s1") is not None
            assert await api.get("RoleBinding", NS, "cloudshell-s1") is not None
            ready = shell["status"]["conditions"][0]
            assert ready["type"] == "Ready" and ready["status"] == "False"
            assert "waiting for the pod to be ready" in ready["message"]
        finally:
            await operator.stop()


def phases_written(api: Api, name: str = "s1") -> list[str]:
    """The phases the operator wrote into the shell's status, in order: what `kubectl get -w` shows."""
    phases = []
    for r in api.k8s:
        if r.method.upper() == "PATCH" and r.url.path.endswith(f"/cloudshells/{name}/status"):
            phase = ((r.data or {}).get("status") or {}).get("phase")
            if not r.headers.get("User-Agent", "").startswith("kmock/") and (not phases or phases[-1] != phase):
                phases.append(phase)
    return phases


async def released(api: Api, name: str = "s1", kinds=("Job", "Service", "ServiceAccount", "RoleBinding")) -> None:
    """Wait until an ended shell holds nothing any more (no NodePort outlives its shell)."""

    async def nothing_left() -> bool:
        return all([await api.get(kind, NS, f"cloudshell-{name}") is None for kind in kinds])

    await eventually(nothing_left, what="the shell's objects released")


async def start_shell(api: Api, name: str = "s1", **spec: Any) -> dict[str, Any]:
    """Create a shell and play every other controller until it is Ready."""
    await api.create(cloudshell(name, **spec))
    await wait_phase(api, "CreatedRouteRule", name)
    if spec.get("exposureMode", "NodePort") == "NodePort":  # the API server allocates the port
        service = await api.get("Service", NS, f"cloudshell-{name}")
        ports = [{**service["spec"]["ports"][0], "nodePort": 31234}]
        await api.patch("Service", NS, f"cloudshell-{name}", {"spec": {"ports": ports}})
    if spec.get("exposureMode") == "ClusterIP":
        await api.patch("Service", NS, f"cloudshell-{name}", {"spec": {"clusterIP": "10.96.0.7"}})
    await run_pod(api, name)
    await ready_endpoint(api, name)
    return await wait_phase(api, "Ready", name)


@pytest.mark.slow
async def test_ready_only_with_a_ready_pod_and_endpoint_then_the_url():
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
        assert phases_written(api) == ["CreatedJob", "CreatedRouteRule", "Ready"]
        assert shell["status"]["accessUrl"] == "203.0.113.5:31234"  # a Ready node's ExternalIP
        assert shell["status"]["lastScheduleTime"].endswith("Z")
        assert shell["status"]["conditions"] == [
            {"type": "Ready", "status": "True", "reason": "Ready", "message": "the terminal is reachable",
             "lastTransitionTime": shell["status"]["conditions"][0]["lastTransitionTime"]}
        ]  # fmt: skip


@pytest.mark.slow
async def test_a_node_port_shell_s_url_reaches_its_pod_s_ttyd_running_its_command(tmp_path):
    """The Job as rendered runs (the real ttyd, its flags and env as the kubelet gives them), and
    the accessUrl the operator writes is where a client finds the shell's own command."""
    async with Running() as api:
        await api.create(cloudshell(commandAction="echo I am $POD_NAME in $POD_NAMESPACE, $CONTAINER; exec bash"))
        async with serve_on_node_port(api, tmp_path / "home") as pod:
            shell = await wait_phase(api, "Ready")
            assert shell["status"]["accessUrl"] == pod.address  # the node's address : the nodePort
            async with await TtydClient.connect(f"ws://{shell['status']['accessUrl']}/ws") as term:
                await term.expect(r"I am cloudshell-s1-x7k2p in team, web-tty\r\n")
                await term.send("echo $((6*7)) > answer; echo wrote $(cat answer)\r")
                await term.expect(r"wrote 42")
            assert (tmp_path / "home" / "answer").read_text() == "42\n"  # the pod's home, as its user wrote it


@pytest.mark.slow
async def test_cluster_ip_url_and_ttl_in_it():
    async with Running() as api:
        shell = await start_shell(api, exposureMode="ClusterIP", ttlSecondsAfterStarted=3600)
        assert shell["status"]["accessUrl"] == "10.96.0.7:7681?ttl=3600"


@pytest.mark.slow
async def test_job_success_completes_and_releases_everything():
    async with Running() as api:
        await start_shell(api)
        await api.patch("Job", NS, "cloudshell-s1", {"status": {"succeeded": 1}}, "status")
        shell = await wait_phase(api, "Complete")
        assert shell["status"]["conditions"][0]["reason"] == "Exited"
        await released(api)


@pytest.mark.slow
async def test_a_once_shell_ends_when_its_one_client_leaves_and_cleanup_deletes_it(tmp_path):
    """``once``: ttyd serves one client and exits as it leaves. The kubelet and the Job controller
    (played) see the pod succeed; the operator completes the shell and, with ``cleanup``, deletes it."""
    async with Running() as api:
        await api.create(cloudshell(cleanup=True, once=True, commandAction="echo hello once; exec bash"))
        async with serve_on_node_port(api, tmp_path) as pod:
            shell = await wait_phase(api, "Ready")
            async with await TtydClient.connect(f"ws://{shell['status']['accessUrl']}/ws") as term:
                await term.expect("hello once")
            assert await pod.exited() == 0
        succeeded = {"phase": "Succeeded", "containerStatuses": [
            {"name": "web-tty", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}  # fmt: skip
        await api.patch("Pod", NS, pod_name(), {"status": succeeded}, "status")
        await api.patch("Job", NS, "cloudshell-s1", {"status": {"succeeded": 1}}, "status")

        async def gone() -> bool:
            return await api.get("CloudShell", NS, "s1") is None

        await eventually(gone, what="the CloudShell deleted")
        await released(api)


async def test_an_invalid_spec_fails_with_a_reason_and_creates_nothing():
    async with Running() as api:
        await api.create(cloudshell(runAsUser="admin"))
        shell = await wait_phase(api, "Failed")
        failed = shell["status"]["conditions"][-1]
        assert failed["type"] == "Failed" and failed["reason"] == "InvalidSpec"
        assert failed["message"].startswith("spec.runAsUser: must be 'root' or a numeric UID")
        created = [w for w in api.writes() if w.startswith("POST") and not w.endswith("/events")]
        assert created == [], "nothing may be half-created"

        async def warned() -> bool:  # `kubectl describe` shows it
            events = (await api.k8s.get(f"/api/v1/namespaces/{NS}/events")).json
            items = (await events()).get("items", [])
            return any(e.get("reason") == "InvalidSpec" and e.get("type") == "Warning" for e in items)

        await eventually(warned, what="a Warning Event")


async def test_gateway_mode_without_a_gateway_configured_fails_clearly():
    async with Running() as api:
        await api.create(cloudshell(exposureMode="GatewayAPI"))
        shell = await wait_phase(api, "Failed")
        assert "GatewayAPI mode is not enabled" in shell["status"]["conditions"][-1]["message"]


@pytest.mark.slow
async def test_a_route_the_gateway_refuses_fails_with_its_reason():
    settings = Settings(gateway=GatewayRef("gw", "infra", hostname="shells.example.com", https=True))
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
    settings = Settings(gateway=GatewayRef("gw", "infra", hostname="shells.example.com", https=True))
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
async def test_an_image_that_cannot_be_pulled_fails_the_shell():
    async with Running() as api:
        await api.create(cloudshell(image="no/such:image"))
        await wait_phase(api, "CreatedRouteRule")
        waiting = {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "no/such:image"'}}
        await run_pod(api, ready=False, containerStatuses=[{"name": "web-tty", "state": waiting}])
        shell = await wait_phase(api, "Failed")
        failed = shell["status"]["conditions"][-1]
        assert failed["reason"] == "ImagePullBackOff" and "no/such:image" in failed["message"]
        await released(api)


@pytest.mark.slow
async def test_the_ttl_completes_the_shell():
    async with Running() as api:
        await start_shell(api, ttlSecondsAfterStarted=1)
        shell = await wait_phase(api, "Complete")
        assert shell["status"]["conditions"][0]["reason"] == "Expired"
        await released(api)


@pytest.mark.slow
async def test_shells_created_and_deleted_at_once_each_keep_their_own_path_in_the_shared_ingress():
    """Each shell's daemon edits the one Ingress on its own: of two writes from the same copy, the
    API server refuses the second (409, resourceVersion) and that shell edits the newer copy."""
    shells = [f"c{i}" for i in range(6)]
    async with Running() as api:
        config = {"host": "shells.example.com"}
        await asyncio.gather(*[api.create(cloudshell(n, exposureMode="Ingress", ingressConfig=config)) for n in shells])
        for name in shells:
            await wait_phase(api, "CreatedRouteRule", name)

        async def paths() -> list[str]:
            ingress = await api.get("Ingress", NS, "cloudshell-ingress")
            return sorted(p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]) if ingress else []

        assert await paths() == [f"/apis/v1alpha1/cloudshell/{n}" for n in shells]
        await asyncio.gather(*[api.delete("CloudShell", NS, n) for n in shells[:3]])

        async def only_the_others() -> bool:
            return await paths() == [f"/apis/v1alpha1/cloudshell/{n}" for n in shells[3:]]

        await eventually(only_the_others, what="the deleted shells' paths removed, the others' kept")


@pytest.mark.slow
async def test_ingress_mode_shares_one_ingress_and_removes_only_its_own_path():
    async with Running() as api:
        config = {"ingressClassName": "nginx", "host": "shells.example.com"}
        for name in ("s1", "s2"):
            await api.create(cloudshell(name, exposureMode="Ingress", ingressConfig=config))
            await wait_phase(api, "CreatedRouteRule", name)
        ingress = await api.get("Ingress", NS, "cloudshell-ingress")
        (rule,) = ingress["spec"]["rules"]
        assert rule["host"] == "shells.example.com"
        assert [p["path"] for p in rule["http"]["paths"]] == [
            "/apis/v1alpha1/cloudshell/s1", "/apis/v1alpha1/cloudshell/s2"]  # fmt: skip
        await api.delete("CloudShell", NS, "s1")

        async def only_s2() -> bool:
            current = await api.get("Ingress", NS, "cloudshell-ingress")
            return [p["path"] for p in current["spec"]["rules"][0]["http"]["paths"]] == ["/apis/v1alpha1/cloudshell/s2"]

        await eventually(only_s2, what="s1's path removed")
        await api.delete("CloudShell", NS, "s2")

        async def ingress_gone() -> bool:
            return await api.get("Ingress", NS, "cloudshell-ingress") is None

        await eventually(ingress_gone, what="the shared Ingress removed with its last path")


async def a_change_is_written(api: Api, name: str = "s1") -> None:
    """The kubelet says the shell's pod is no longer Ready; wait for the operator to write what that
    changes (Ready -> CreatedRouteRule). A pass that has nothing to do leaves no trace in the API (it
    reads kopf's indexes): this write, after the events before it, is the sign that they were seen."""
    pod = f"cloudshell-{name}-x7k2p"
    await api.patch("Pod", NS, pod, {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}, "status")
    await wait_phase(api, "CreatedRouteRule", name)


STATUS_WRITE = f"PATCH /apis/cloudshell.cloudtty.io/v1alpha1/namespaces/{NS}/cloudshells/s1/status"


def reads(api: Api) -> list[str]:
    """The operator's GETs (not kopf's watch streams)."""
    return [
        f"GET {r.url.path}"
        for r in api.k8s
        if r.method.upper() == "GET"
        and r.params.get("watch") != "true"
        and not r.headers.get("User-Agent", "").startswith("kmock/")
    ]


@pytest.mark.slow
async def test_a_steady_state_makes_no_writes_and_no_reads():
    async with Running() as api:
        await start_shell(api)
        writes, read = len(api.writes()), len(reads(api))
        # Kubelets re-report status all the time: each such event wakes the shell's daemon.
        pod = "cloudshell-s1-x7k2p"
        for _ in range(3):
            current = await api.get("Pod", NS, pod)
            await api.patch("Pod", NS, pod, {"status": current["status"]}, "status")
        await a_change_is_written(api)
        assert api.writes()[writes:] == [STATUS_WRITE], "a steady state wrote"
        assert reads(api)[read:] == [], "what a pass needs is in kopf's indexes"


@pytest.mark.slow
async def test_a_restarted_operator_duplicates_nothing_and_rewrites_nothing():
    async with Running() as api:
        ready = await start_shell(api)
        writes = len(api.writes())
        await api.operator.stop()
        await api.operator.start()  # kopf resumes every shell it finds: a pass over each
        await a_change_is_written(api)
        shell = await api.get("CloudShell", NS, "s1")
        assert shell["spec"] == ready["spec"]
        assert shell["status"]["lastScheduleTime"] == ready["status"]["lastScheduleTime"]
        # No object was created again, nothing rewritten: the one write is the change's.
        assert api.writes()[writes:] == [STATUS_WRITE]


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
    async with Running() as api:
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


async def test_an_ignored_configmap_kubeconfig_is_said_in_a_condition():
    async with Running(Settings(allow_secret_store_kubeconfig=True)) as api:
        await api.create(cloudshell(configmapName="old-kubeconfig"))
        shell = await wait_phase(api, "CreatedRouteRule")
        ignored = [c for c in shell["status"]["conditions"] if c["type"] == "KubeconfigIgnored"]
        assert ignored and "AllowSecretStoreKubeconfig" in ignored[0]["message"]
        job = await api.get("Job", NS, "cloudshell-s1")
        assert "volumes" not in job["spec"]["template"]["spec"]
