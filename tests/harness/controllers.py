"""Our operator on kmock's emulator, and what Kubernetes' own controllers do around it, played by tests.

``Running`` is an emulated cluster with the operator on it (kopf, as the tests run it:
tests/harness/emulator.py). What the other controllers would do for a CloudShell (the Job
controller starting a pod, the kubelet marking it Ready, EndpointSlices, the API server's
NodePort) the functions below do over HTTP; ``serve_on_node_port`` runs the Job's container as a
real pod (the real ttyd in the shell image's files, tests/harness/pods.py). Shared by the
operator's integration tests that stay on the emulator (faults).
"""

from __future__ import annotations

import base64
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from jupyter_cloudtty.cloudshell import names
from jupyter_cloudtty.operator.settings import Settings
from tests.harness.emulator import Api, Operator, emulated_kubernetes
from tests.harness.kube import NS, ThreadedApi
from tests.harness.pods import UID, Pod, container_env, expand
from tests.harness.waiting import eventually


def cloudshell(name: str = "s1", **spec: Any) -> dict[str, Any]:
    """A CloudShell as a user creates it in ``NS``, with the CRD's defaults the API server fills in."""
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
    """Wait until the shell's status has ``phase``; returns the shell."""

    async def reached() -> bool:
        return await phase_of(api, name) == phase

    await eventually(reached, timeout=15, what=f"phase {phase}")
    shell = await api.get("CloudShell", NS, name)
    assert shell is not None
    return shell


def pod_name(shell: str = "s1") -> str:
    """The name the Job controller gives the shell's pod."""
    return f"cloudshell-{shell}-x7k2p"


async def run_pod(api: Api | ThreadedApi, name: str = "s1", ready: bool = True, **status: Any) -> None:
    """Play the Job controller and the kubelet: the shell's pod, Running and Ready."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name(name), "namespace": NS,
                     "labels": {"cloudshell.cloudtty.io/owner-name": name}},
        "spec": {"containers": [{"name": "web-tty", "image": "i"}]},
    }  # fmt: skip
    await api.create(pod)
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    state = {"phase": "Running", "conditions": [condition], **status}
    await api.patch("Pod", NS, pod["metadata"]["name"], {"status": state}, "status")


async def ready_endpoint(api: Api | ThreadedApi, name: str = "s1") -> None:
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


async def node_at(api: Api | ThreadedApi, address: str) -> None:
    """Play the node's kubelet: node-1, Ready, has ``address`` as its one address (its InternalIP)."""
    status = {"conditions": [{"type": "Ready", "status": "True"}],
              "addresses": [{"type": "InternalIP", "address": address}]}  # fmt: skip
    if await api.get("Node", None, "node-1") is None:
        await api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "status": status})
    else:
        await api.patch("Node", None, "node-1", {"status": status}, "status")


@asynccontextmanager
async def serve_on_node_port(api: Api | ThreadedApi, home: Path, name: str = "s1") -> AsyncIterator[Pod]:
    """Play what follows the operator's Job and Service of a NodePort shell, and yield the pod.

    The kubelet runs the Job's pod: its container's command with the env the kubelet gives it,
    ``$(VAR)`` expanded, as a real pod (tests/harness/pods.py: the real ttyd, its home the folder
    ``home``); the node's address is the pod's and the API server allocates the container's port
    as the nodePort, so the accessUrl the operator writes (node address:nodePort) is the pod's
    ttyd; the pod is Running and Ready, its endpoint ready. The pod is stopped at exit.
    """
    objects = f"cloudshell-{name}"

    async def rendered() -> bool:
        return await api.get("Job", NS, objects) is not None and await api.get("Service", NS, objects) is not None

    await eventually(rendered, what="the operator's Job and Service")
    job = await api.get("Job", NS, objects)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    shell = await api.get("CloudShell", NS, name)
    secret = await api.get("Secret", NS, names.secret_name(shell))
    values = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}

    def lookup(source: dict[str, Any]) -> str | None:  # the shell's own Secret: its token, its env values
        ref = source.get("secretKeyRef") or {}
        return values.get(ref["key"]) if ref.get("name") == secret["metadata"]["name"] else None

    env = container_env(container, name=pod_name(name), namespace=NS, lookup=lookup)
    command = [expand(arg, env) for arg in container["command"]]
    uid = container.get("securityContext", {}).get("runAsUser", UID)
    base = names.ttyd_base_path(shell, values[names.TOKEN_KEY])
    async with Pod(command, home=home, env=env, name=pod_name(name), uid=uid, base_path=base) as pod:
        await node_at(api, pod.address_ip)
        service = await api.get("Service", NS, objects)
        ports = [{**service["spec"]["ports"][0], "nodePort": pod.port}]
        await api.patch("Service", NS, objects, {"spec": {"ports": ports}})
        await run_pod(api, name)
        await ready_endpoint(api, name)
        yield pod


class Running:
    """An emulated cluster with our operator on it."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings

    async def __aenter__(self) -> Api:
        self._k8s_context = emulated_kubernetes()
        k8s = await self._k8s_context.__aenter__()
        self.api = Api(k8s)
        self.operator = await Operator(k8s, self.settings).start()
        self.api.operator = self.operator  # for tests that restart it
        await self.api.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "node-1"},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": "10.0.0.5"},
                                  {"type": "ExternalIP", "address": "203.0.113.5"}],
                },
            }
        )  # fmt: skip
        return self.api

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.operator.stop()
        finally:
            await self._k8s_context.__aexit__(*exc)
