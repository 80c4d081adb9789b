"""Recording on the Kubernetes backend (kmock's emulated API server, a real ttyd pod; tests/harness/kube.py):
a shell's ``record`` kept as its CloudShell's annotation, read back by any server, and a relayed terminal
recorded as it passes."""

from __future__ import annotations

import json

import pytest

from jupyter_cloudtty.server.backends.kubernetes import policy
from tests.harness.kube import NS

pytestmark = pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/harness/kube_fixtures.py


@pytest.fixture
def policy_config(tmp_path):
    return {"recording": "optional", "recordings_dir": str(tmp_path / "recordings")}


@pytest.fixture
def cloudtty_config(kubernetes_config):
    return kubernetes_config


async def test_record_is_the_cloudshell_s_annotation_and_is_read_back(api, kube):
    status, shell, _ = await api("POST", body={"name": "kept", "record": True})
    assert status == 201 and shell["record"] is True
    stored = await kube.get("CloudShell", NS, "kept")
    assert stored["metadata"]["annotations"]["jupyter-cloudtty.io/record"] == "true"
    status, shell, _ = await api("POST", body={"name": "plain"})
    assert status == 201 and shell["record"] is False
    assert "jupyter-cloudtty.io/record" not in (await kube.get("CloudShell", NS, "plain"))["metadata"]["annotations"]
    # Made by an earlier run of the server (or another of alice's): the annotation is what tells.
    await kube.create(policy.cloudshell("earlier", {}, "alice", policy.Policy(namespace=NS), record=True))
    assert (await api("GET", "earlier"))[1]["record"] is True


async def test_a_relayed_terminal_is_recorded(api, pods, connect, tmp_path):
    await api("POST", body={"name": "s1", "record": True})
    await pods.ready("s1")
    term = await connect("s1", columns=100, rows=30)
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")
    assert (await api("DELETE", "s1"))[0] == 204  # the recording ends with the session
    [path] = (tmp_path / "recordings").iterdir()
    header, *events = [json.loads(line) for line in path.read_text().splitlines()]
    assert (header["width"], header["height"], header["cloudtty"]["shell"]) == (100, 30, "s1")
    assert header["cloudtty"]["owner"] == "alice" and header["cloudtty"]["spec"]["exposureMode"] == "ClusterIP"
    assert "\r42\r\n" in "".join(data for _, code, data in events if code == "o")
