"""The operator (kopf) against kmock's Kubernetes emulator: a real HTTP API, real watches.

What Kubernetes' own controllers would do (the Job controller starting a pod, the kubelet
marking it Ready, EndpointSlices, a Gateway accepting a route) the tests do over HTTP.
"""

from __future__ import annotations

from typing import Any

from jupyter_cloudtty.operator.settings import Settings
from tests.emulator import Api, Operator, emulated_kubernetes
from tests.waiting import eventually

NS = "team"


def cloudshell(name: str = "s1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cloudshell.cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"commandAction": "bash", "exposureMode": "NodePort", **spec},  # the CRD's defaults
    }


async def phase_of(api: Api, name: str = "s1") -> str | None:
    shell = await api.get("CloudShell", NS, name)
    return None if shell is None else (shell.get("status") or {}).get("phase")


async def wait_phase(api: Api, phase: str, name: str = "s1") -> dict[str, Any]:
    async def reached() -> bool:
        return await phase_of(api, name) == phase

    await eventually(reached, timeout=15, what=f"phase {phase}")
    shell = await api.get("CloudShell", NS, name)
    assert shell is not None
    return shell


async def run_pod(api: Api, name: str = "s1", ready: bool = True, **status: Any) -> None:
    """Play the Job controller and the kubelet: the shell's pod, Running and Ready."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"cloudshell-{name}-x7k2p", "namespace": NS,
                     "labels": {"cloudshell.cloudtty.io/owner-name": name}},
        "spec": {"containers": [{"name": "web-tty", "image": "i"}]},
    }  # fmt: skip
    await api.create(pod)
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    state = {"phase": "Running", "conditions": [condition], **status}
    await api.patch("Pod", NS, pod["metadata"]["name"], {"status": state}, "status")


async def ready_endpoint(api: Api, name: str = "s1") -> None:
    """Play the EndpointSlice controller: the Service has a ready endpoint."""
    await api.create(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": f"cloudshell-{name}-abcde", "namespace": NS,
                         "labels": {"kubernetes.io/service-name": f"cloudshell-{name}"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": True}}],
        }
    )  # fmt: skip


async def test_create_renders_the_objects_and_sets_the_phase():
    async with emulated_kubernetes() as k8s:
        api = Api(k8s)
        operator = await Operator(k8s, Settings(image="registry.example/shell:1")).start()
        try:
            created = await api.create(cloudshell())
            shell = await wait_phase(api, "CreatedRouteRule")
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
