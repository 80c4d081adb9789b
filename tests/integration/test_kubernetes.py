"""The Kubernetes backend through a real Jupyter server, against kmock's emulated API server.

The server runs with ``c.CloudTTY.backend = "kubernetes"`` and a kubeconfig pointing at the
emulator; the official client talks to it over HTTP. The shells' pods are ttyd stand-ins on
127.0.0.1 (tests/ttyd_server.py), reached through ``connect_via = "url"``; what the operator
would write into a CloudShell's status, the tests write (tests/kube.py, ShellPods). Requests that try
to set what the server decides, and another user's shells, are attacks of tests/security/attacks.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal

import pytest

from jupyter_cloudtty.ttyd import TtydClient
from tests.checks import (
    pause_holds_output_and_resume_delivers_it,
    resumed_in_the_same_process,
    sizes_reach_the_program,
)
from tests.emulator import Operator
from tests.integration.test_operator import THIS_NODE, serve_on_node_port
from tests.kube import NS, SHELL, TOKEN
from tests.sse import EventStream
from tests.ttyd_server import TtydProcess, TtydServer
from tests.waiting import alive, eventually, process_gone

CLOUDSHELLS = f"/apis/cloudshell.cloudtty.io/v1alpha1/namespaces/{NS}/cloudshells"
OWNER = "jupyter-cloudtty.io/owner"


pytestmark = pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/kube_fixtures.py


@pytest.fixture
def cloudtty_config(kubernetes_config):
    return kubernetes_config


async def cloudshells(kube) -> list[str]:
    return [obj["metadata"]["name"] for obj in await kube.list("CloudShell", NS)]


async def shell_pid(term: TtydClient) -> int:
    await term.send("echo PID=$$\r")
    return int((await term.expect(rb"PID=(\d+)\r\n")).group(1))


# --- creating, with the administrator's policy --------------------------------------------


@pytest.mark.parametrize(
    "policy_config",
    [{"default_image": "registry.example/shell:1", "max_ttl": 3600, "extra_labels": {"team": "data"}}],
)
async def test_a_new_shell_is_a_cloudshell_owned_by_the_user_under_the_policy(api, kube):
    status, shell, response = await api("POST", body={"name": "s1", "spec": {"commandAction": "htop"}})
    assert status == 201, shell
    assert response.headers["Location"].endswith("/cloudtty/api/shells/s1")
    assert shell["name"] == "s1" and shell["status"]["phase"] == ""

    obj = await kube.get("CloudShell", NS, "s1")
    meta = obj["metadata"]
    assert meta["labels"][OWNER] == "alice" and meta["annotations"][OWNER] == "alice"
    assert meta["labels"]["team"] == "data"
    assert obj["spec"] == {
        "commandAction": "htop",
        "image": "registry.example/shell:1",
        "ttlSecondsAfterStarted": 3600,
        "exposureMode": "ClusterIP",
    }
    status, listed, _ = await api("GET")
    assert [s["name"] for s in listed] == ["s1"]


@pytest.mark.parametrize("policy_config", [{"allowed_images": ["registry.example/shells/*"]}])
async def test_an_allowed_image_may_be_chosen(api, kube):
    status, shell, _ = await api("POST", body={"name": "s1", "spec": {"image": "registry.example/shells/py:3"}})
    assert status == 201, shell
    assert (await kube.get("CloudShell", NS, "s1"))["spec"]["image"] == "registry.example/shells/py:3"


async def test_a_taken_name_is_a_conflict(api, kube):
    assert (await api("POST", body={"name": "s1"}))[0] == 201
    status, answer, _ = await api("POST", body={"name": "s1"})
    assert status == 409 and answer["message"] == "a shell named 's1' already exists"


# --- what users see of the cluster: status, events, errors --------------------------------


async def test_the_status_reaches_an_event_stream_client(api, pods, events_url, jp_auth_header):
    async with EventStream(events_url, jp_auth_header) as events:
        assert await events.next() == ("snapshot", [])
        assert (await api("POST", body={"name": "s1"}))[0] == 201
        _, added = await events.until(lambda e, d: e == "shell" and d["type"] == "ADDED")
        assert added["shell"]["name"] == "s1" and added["shell"]["status"]["phase"] == ""

        await pods.status("s1", phase="CreatedJob")
        await events.until(lambda e, d: e == "shell" and d["shell"]["status"]["phase"] == "CreatedJob")
        await pods.ready("s1")
        _, ready = await events.until(lambda e, d: e == "shell" and d["shell"]["status"]["phase"] == "Ready")
        assert ready["type"] == "MODIFIED" and ready["shell"]["status"]["accessUrl"].startswith("127.0.0.1:")

        assert (await api("DELETE", "s1"))[0] == 204
        _, deleted = await events.until(lambda e, d: e == "shell" and d["type"] == "DELETED")
        assert deleted["shell"]["name"] == "s1"


async def test_a_shell_deleted_by_someone_else_goes_from_the_list_and_closes_its_terminal(api, kube, pods, connect):
    await api("POST", body={"name": "s1"})
    await pods.ready("s1")
    term = await connect("s1")
    await shell_pid(term)
    await kube.delete("CloudShell", NS, "s1")  # kubectl delete cloudshell s1
    assert await term.wait_closed() == (4002, "the shell was deleted")
    assert (await api("GET"))[1] == []


async def test_deleting_a_shell_deletes_its_cloudshell_and_closes_its_terminal(api, kube, pods, connect):
    await api("POST", body={"name": "s1"})
    ttyd = await pods.ready("s1")
    term = await connect("s1")
    pid = await shell_pid(term)
    assert (await api("DELETE", "s1"))[0] == 204
    assert await term.wait_closed() == (4002, "the shell was deleted")
    assert await cloudshells(kube) == []
    await asyncio.wait_for(ttyd.connections[0].closed.wait(), 10)
    assert process_gone(pid)
    assert (await api("GET", "s1"))[0] == 404


async def test_a_failed_shell_says_why_in_its_status_and_its_terminal(api, pods, connect):
    await api("POST", body={"name": "s1"})
    why = "image pull failing: ErrImagePull: registry.example/shell:1 not found; fix spec.image"
    failed = {"type": "Failed", "status": "True", "reason": "ImagePullFailed", "message": why,
              "lastTransitionTime": "2026-11-25T00:00:00Z"}  # fmt: skip
    await pods.status("s1", phase="Failed", conditions=[failed])

    async def failed_shown() -> bool:  # as soon as the server's watch has seen it
        return (await api("GET", "s1"))[1]["status"]["phase"] == "Failed"

    await eventually(failed_shown, what="the Failed phase")
    _, shell, _ = await api("GET", "s1")
    assert shell["status"]["conditions"] == [failed]
    term = await connect("s1")
    code, reason = await term.wait_closed()
    assert code == 4000 and reason.startswith("image pull failing: ErrImagePull")


async def test_a_terminal_opened_early_waits_for_the_shell_to_be_ready(api, pods, connect):
    await api("POST", body={"name": "s1"})
    term = await connect("s1")  # the panel opens the tab at once
    await pods.status("s1", phase="CreatedJob")
    await pods.ready("s1")
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")


@pytest.mark.parametrize(
    "access_url, reason",
    [
        ("127.0.0.1:1", r"cannot reach the shell's terminal: Connection refused"),
        ("/apis/v1alpha1/cloudshell/s1/", r"its accessUrl '/apis/v1alpha1/cloudshell/s1/' has no host"),
    ],
)
async def test_an_unreachable_terminal_closes_with_a_reason(api, pods, connect, access_url, reason):
    await api("POST", body={"name": "s1"})
    await pods.status("s1", phase="Ready", accessUrl=access_url)
    term = await connect("s1")
    code, why = await term.wait_closed()
    assert code == 4005 and re.match(reason, why), why


@pytest.mark.parametrize("policy_config", [{"connect_via": "apiserver"}])
async def test_through_the_api_servers_service_proxy(api, k8s, pods, connect):
    """connect_via=apiserver: the relay authenticates to the API server as the Jupyter server."""
    await api("POST", body={"name": "s1"})
    ttyd = await pods.ready("s1")
    k8s.k8s.serve_service(NS, "cloudshell-s1", f"http://{ttyd.address}", token=TOKEN)
    term = await connect("s1")
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")
    assert len(ttyd.connections) == 1


@pytest.mark.parametrize("policy_config", [{"connect_via": "apiserver"}])
async def test_the_service_proxy_refusing_the_credentials_is_a_clear_close(api, k8s, pods, connect):
    await api("POST", body={"name": "s1"})
    ttyd = await pods.ready("s1")
    k8s.k8s.serve_service(NS, "cloudshell-s1", f"http://{ttyd.address}", token="another-token")
    term = await connect("s1")
    code, why = await term.wait_closed()
    assert code == 4005 and why == "cannot reach the shell's terminal: HTTP 401 Unauthorized from 127.0.0.1", why


@pytest.mark.parametrize("policy_config", [{"ready_timeout": 1.0}])
async def test_a_shell_no_operator_acts_on_gives_up_with_what_to_check(api, connect):
    await api("POST", body={"name": "s1"})
    term = await connect("s1")
    assert await term.wait_closed() == (4005, "not Ready after 1s (no status): kubectl describe cloudshell s1")


@pytest.mark.parametrize("policy_config", [{"connect_via": "service"}])
async def test_a_service_name_that_does_not_resolve_says_so(api, pods, connect):
    await api("POST", body={"name": "s1"})
    await pods.status("s1", phase="Ready")
    term = await connect("s1")
    code, why = await term.wait_closed(timeout=20)
    assert code == 4005
    assert why.startswith("cannot reach the shell's terminal: cloudshell-s1.team.svc does not resolve"), why


async def test_an_exceeded_quota_is_a_429_and_creates_nothing(api, k8s, kube):
    message = (
        'cloudshells.cloudshell.cloudtty.io "s1" is forbidden: exceeded quota: shells, requested: count/cloudshells=1'
    )
    k8s.k8s.refuse("POST", CLOUDSHELLS, 403, "Forbidden", message)
    status, answer, _ = await api("POST", body={"name": "s1"})
    assert status == 429
    assert answer["message"] == f"namespace '{NS}' has no quota left for another shell: {message}"
    assert await cloudshells(kube) == []


async def test_rbac_forbidden_says_what_the_server_may_not_do(api, k8s):
    message = 'cloudshells.cloudshell.cloudtty.io is forbidden: User "system:serviceaccount:jhub:default" cannot create'
    k8s.k8s.refuse("POST", CLOUDSHELLS, 403, "Forbidden", message)
    status, answer, _ = await api("POST", body={"name": "s1"})
    assert status == 403
    assert answer["message"].startswith(
        f"the cluster does not let this Jupyter server create CloudShells in namespace '{NS}' ({message})"
    )


# --- the relay ------------------------------------------------------------------------------


async def test_the_terminal_is_relayed_from_the_pods_ttyd(api, pods, connect):
    await api("POST", body={"name": "s1"})
    ttyd = await pods.ready("s1")
    term = await connect("s1", columns=100, rows=30)
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")
    await sizes_reach_the_program(term)
    # ttyd's own title and preferences reach the browser.
    assert term.title.startswith("bash --norc --noprofile (") and term.preferences == {}
    assert len(ttyd.connections) == 1


async def test_pause_and_resume_reach_the_pods_ttyd(api, pods, connect, tmp_path):
    await api("POST", body={"name": "s1"})
    ttyd = await pods.ready("s1", env={"PATH": os.environ["PATH"], "PS1": "prompt> "})
    term = await connect("s1")
    pod = await ttyd.connected()

    async def paused_upstream() -> None:
        assert pod.commands[-2:] == ["2", "0"]  # PAUSE reached ttyd before the input

    await pause_holds_output_and_resume_delivers_it(term, tmp_path / "printed", paused_upstream)
    assert pod.commands[-1] == "3"


async def test_a_browser_back_from_a_drop_finds_the_same_process_and_misses_nothing(api, pods, connect, tmp_path):
    await api("POST", body={"name": "s1"})
    ttyd = await pods.ready("s1")
    term = await connect("s1", client_id="tab-1")
    pid = await shell_pid(term)
    go = tmp_path / "go"
    await term.send(f"while [ ! -e {go} ]; do sleep 0.02; done; echo LATER-$((2+3))\r")
    await term.expect(re.escape(str(go)).encode() + rb".*\r\n")  # the command runs
    received = term.received
    term.connection.close()  # the network drops

    go.touch()
    await ttyd.connections[0].until_output(b"LATER-5")  # produced while nobody watched

    again = await connect("s1", client_id="tab-1", received=received)
    await resumed_in_the_same_process(again, pid)
    assert len(ttyd.connections) == 1, "the relay reconnected to ttyd: that is a new process"


async def test_after_the_detach_timeout_the_pods_process_is_ended(api, pods, connect):
    await api("POST", body={"name": "s1"})
    ttyd = await pods.ready("s1")
    term = await connect("s1")
    pid = await shell_pid(term)
    await term.close()
    await asyncio.wait_for(ttyd.connections[0].closed.wait(), 10)  # detach_timeout is 2 s here
    assert process_gone(pid)

    # The shell itself stays; a new client gets a new process, as from ttyd itself.
    again = await connect("s1")
    assert await shell_pid(again) != pid
    assert len(ttyd.connections) == 2
    assert alive(ttyd.connections[1].pid)


# --- choosing the backend ---------------------------------------------------------------------


async def test_info_says_kubernetes_where_and_why(jp_fetch, k8s):
    info = json.loads((await jp_fetch("cloudtty", "api", "info")).body)
    assert info["backend"] == "kubernetes" and info["namespace"] == NS and info["identity"] == "alice"
    assert info["apiServer"] == k8s.url and info["connectVia"] == "url"
    assert "kubeconfig" in info["reason"] and "context 'emulator'" in info["credentials"]


# --- with the real operator -----------------------------------------------------------------


@pytest.mark.parametrize("policy_config", [{"default_exposure": "NodePort"}])
async def test_with_the_operator_a_new_shell_becomes_ready_and_its_terminal_works(api, k8s, kube, connect, tmp_path):
    """Our operator (kopf) reconciles the shell the server created; the tests play the kubelet,
    the EndpointSlice controller and the API server's NodePort allocation, whose port is a ttyd
    stand-in's on this node (127.0.0.1)."""
    operator = await Operator(k8s.k8s).start()
    try:
        await kube.create(THIS_NODE)
        assert (await api("POST", body={"name": "s1", "spec": {"commandAction": "bash"}}))[0] == 201

        async with TtydServer(["bash", "--norc", "--noprofile"], cwd=str(tmp_path)) as ttyd:
            await serve_on_node_port(kube, ttyd.port)

            async def ready() -> bool:
                return (await api("GET", "s1"))[1]["status"]["phase"] == "Ready"

            await eventually(ready, timeout=20, what="Ready, as the operator writes it")
            assert (await api("GET", "s1"))[1]["status"]["accessUrl"] == ttyd.address
            term = await connect("s1")
            await term.send("echo $((6*7))\r")
            await term.expect(rb"\r42\r\n")

            assert (await api("DELETE", "s1"))[0] == 204
            assert await term.wait_closed() == (4002, "the shell was deleted")
    finally:
        await operator.stop()


@pytest.mark.parametrize("policy_config", [{"upstream_ping_interval": 0.5}])
async def test_a_ttyd_that_stops_answering_ends_the_terminal_with_a_reason(api, pods, connect, tmp_path):
    """A pod gone with its node leaves the TCP connection open: pings tell."""
    await api("POST", body={"name": "s1"})
    async with TtydProcess(SHELL, cwd=tmp_path) as pod:
        await pods.status("s1", phase="Ready", accessUrl=pod.address)
        term = await connect("s1")
        await shell_pid(term)
        pod.process.send_signal(signal.SIGSTOP)  # frozen: the socket stays open, nothing answers
        code, why = await term.wait_closed(timeout=20)
        assert (code, why) == (4005, "the shell's terminal stopped answering (no pong within 0.5s)")


@pytest.mark.parametrize("policy_config", [{"upstream_ping_interval": 0.5}])
async def test_a_browser_that_reads_slowly_is_not_taken_for_a_dead_ttyd(api, pods, connect):
    """While a slow browser holds the relay back, pongs wait behind output: that is backpressure,
    not a ttyd that stopped answering."""
    await api("POST", body={"name": "s1"})
    await pods.ready("s1")
    term = await connect("s1")
    await term.send("head -c 30000000 /dev/zero | tr '\\\\0' x; echo; echo END-$((1+1))\r")
    await asyncio.sleep(3)  # the browser reads nothing for six ping intervals: the relay is held back
    received = 0
    while (data := await term.read()) is not None:
        received += len(data)
        if b"END-2" in data:
            break
    assert data is not None and received > 30_000_000, (term.close_code, term.close_reason)
