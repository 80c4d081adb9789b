"""The chart's operator on the real control plane, with nothing but the chart's own rights.

The chart is rendered by Helm's engine and applied with kubectl; the operator runs as `jupyter
cloudtty operator` (its Deployment's command, as a process: the tests' node runs no images) with a
token of the chart's ServiceAccount, so every request it makes passes real RBAC. A CloudShell written
as CloudTTY's documentation writes it then reaches Ready on the tests' node, its terminal answers
through the API server's service proxy, and deleting it takes its Job and Service along.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
import yaml

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.chart import render

pytestmark = pytest.mark.slow

CRDS = {"CustomResourceDefinition"}  # installed by the control_plane fixture (the CloudShell CRD)
NOT_RUN = {"Deployment"}  # the operator runs as a process of this test instead


def kubectl_json(cluster, *args: str) -> dict:
    return json.loads(cluster.kubectl(*args, "-o", "json"))


async def test_a_cloudshell_reaches_ready_under_the_chart_s_rbac(control_plane, node, namespace, tmp_path):
    cluster = control_plane
    objects = render({}, name=namespace, namespace=namespace)  # a release per test: its cluster-wide names too
    installed = [o for o in objects if o["kind"] not in CRDS | NOT_RUN]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                            "items": installed}))  # fmt: skip
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    [configmap] = [o for o in objects if o["kind"] == "ConfigMap"]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    config = tmp_path / "config.yaml"
    config.write_text(configmap["data"]["config.yaml"])
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=1h").strip()
    kubeconfig = cluster.kubeconfig(f"operator-{namespace}", user=account, token=token)

    operator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jupyter_cloudtty", "operator", f"--namespace={namespace}", "--standalone",
        f"--config={config}",
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    log = ""
    try:
        shell = {  # as CloudTTY's README writes one
            "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": "s1"},
            "spec": {"commandAction": "bash", "once": False, "ttlSecondsAfterStarted": 600},
        }  # fmt: skip
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(shell))
        try:
            cluster.kubectl("wait", "--for=jsonpath={.status.phase}=Ready", "cloudshell/s1", "-n", namespace,
                            "--timeout=90s")  # fmt: skip
        except Exception:
            status = kubectl_json(cluster, "get", "cloudshell", "s1", "-n", namespace).get("status")
            raise AssertionError(f"not Ready: {yaml.safe_dump(status)}") from None
        status = kubectl_json(cluster, "get", "cloudshell", "s1", "-n", namespace)["status"]
        service = kubectl_json(cluster, "get", "service", "cloudshell-s1", "-n", namespace)
        node_port = service["spec"]["ports"][0]["nodePort"]
        assert status["accessUrl"].endswith(f":{node_port}?ttl=600")  # NodePort, CloudTTY's default

        proxy = f"{cluster.url}/api/v1/namespaces/{namespace}/services/cloudshell-s1:7681/proxy/ws"
        folder = cluster.admin.parent
        client = await TtydClient.connect(
            proxy.replace("https://", "wss://"), ca_certs=str(cluster.ca_file),
            client_cert=str(folder / "admin.crt"), client_key=str(folder / "admin.key"),
        )  # fmt: skip
        try:
            await client.send("echo $((6*7))\r")
            await client.expect("42")
        finally:
            await client.close()

        cluster.kubectl("delete", "cloudshell", "s1", "-n", namespace, "--timeout=60s")
        cluster.kubectl("wait", "--for=delete", "job/cloudshell-s1", "service/cloudshell-s1", "-n", namespace,
                        "--timeout=60s")  # fmt: skip
    finally:
        operator.terminate()
        log = (await operator.communicate())[0].decode(errors="replace")
    assert "Forbidden" not in log and "Traceback" not in log, log[-6000:]
