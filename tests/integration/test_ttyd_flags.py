"""Every ttyd flag the operator renders, as the real ttyd 1.7.7 (Debian's) takes it.

Each test renders a shell's Job (``manifests.job``) and Secret (``manifests.secret``), runs its
container's command line with the env the kubelet gives it (``$(VAR)`` expanded; a Secret's value
read) as a pod (tests/harness/pods.py), and connects as a client of the pod would: at ttyd's base
path (the route's, then the shell's token), with the credential, with ``?arg=``. What it checks
is what the shell's user sees: the shell's own command runs (its output, computed by the shell,
never a flag's value taken for the command), and each flag does what it is for. Values the real
ttyd would refuse or misread are refused with the spec (the last test).
"""

from __future__ import annotations

import asyncio
import base64
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_cloudtty.cloudshell import names
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.operator import manifests
from jupyter_cloudtty.operator.settings import GatewayRef, Settings
from jupyter_cloudtty.ttyd import TtydClient, TtydClosed
from jupyter_cloudtty.ttyd.protocol import client_option_value
from tests.harness.pods import Pod, container_env, expand
from tests.harness.waiting import eventually

NS = "team"
POD = "cloudshell-s1-x7k2p"
SETTINGS = Settings(gateway=GatewayRef("gw", "infra", hostname="shells.example.com", https=True))
SECRETS = {("creds", "basic"): "alice:s3cret"}  # what the kubelet reads from a Secret of the user's
TOKEN = "Zq3-token_of_s1"  # what the operator put in the shell's own Secret

# Quoting, a pipe, arithmetic and the pod's env: only the shell running the command prints this.
COMMAND = """printf '%s ' "it's" "$((6*7))" "$POD_NAMESPACE" | tr a-z A-Z; echo; exec sleep 60"""
RAN = rb"IT'S 42 TEAM \r\n"

CREDENTIAL = {"name": "TTYD_CREDENTIAL", "value": "alice:s3cret"}
CREDENTIAL_SECRET = {"name": "TTYD_CREDENTIAL", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "basic"}}}
PING = {"name": "TTYD_PING_INTERVAL", "value": "30"}
BUFFER = {"name": "TTYD_SERVER_BUFFER_SIZE", "value": "8192"}
OPTIONS = {"fontSize": "20", "cursorStyle": "bar", "cursorBlink": "true"}

SPECS = {
    "default": {},
    "once": {"once": True},
    "urlArg": {"urlArg": True},
    "ttydClientOptions": {"ttydClientOptions": OPTIONS},
    "TTYD_PING_INTERVAL": {"env": [PING]},
    "TTYD_SERVER_BUFFER_SIZE": {"env": [BUFFER]},
    "TTYD_CREDENTIAL": {"env": [CREDENTIAL]},
    "TTYD_CREDENTIAL-secret": {"env": [CREDENTIAL_SECRET]},
    "Ingress": {"exposureMode": "Ingress"},
    "Ingress-prefix-suffix": {"exposureMode": "Ingress", "pathPrefix": "/team/shells/", "pathSuffix": "tty"},
    "VirtualService": {"exposureMode": "VirtualService", "virtualServiceConfig": {"gateway": "istio/gw"},
                       "pathPrefix": "p"},
    "GatewayAPI": {"exposureMode": "GatewayAPI", "pathSuffix": "x"},
    "everything": {"once": True, "urlArg": True, "ttydClientOptions": OPTIONS, "exposureMode": "GatewayAPI",
                   "pathPrefix": "a", "pathSuffix": "b", "env": [PING, BUFFER, CREDENTIAL_SECRET]},
}  # fmt: skip


def cloudshell(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cloudshell.cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": "s1", "namespace": NS, "uid": "uid-1"},
        "spec": {"commandAction": COMMAND, "exposureMode": "ClusterIP", **spec},  # the CRD's default mode
    }


@asynccontextmanager
async def shell_pod(tmp_path: Path, **spec: Any) -> AsyncIterator[Pod]:
    """The shell's pod: its Job's container run as the kubelet runs it."""
    shell = cloudshell(**spec)
    (container,) = manifests.job(shell, SETTINGS)["spec"]["template"]["spec"]["containers"]
    own = manifests.secret(shell, TOKEN)
    secrets = {**SECRETS, **{(own["metadata"]["name"], key): base64.b64decode(value).decode()
                             for key, value in own["data"].items()}}  # fmt: skip

    def lookup(source: dict[str, Any]) -> str | None:
        ref = source.get("secretKeyRef")
        return secrets[ref["name"], ref["key"]] if ref else None

    env = container_env(container, name=POD, namespace=NS, lookup=lookup)
    command = [expand(arg, env) for arg in container["command"]]
    base = names.ttyd_base_path(shell, TOKEN)  # where the Jupyter server connects
    async with Pod(command, env=env, home=tmp_path / "home", name=POD, base_path=base) as pod:
        yield pod


def basic(credential: str) -> str:
    return base64.b64encode(credential.encode()).decode()


async def connect(pod: Pod, query: str = "", **options: Any) -> TtydClient:
    """A client of the pod's ttyd, as a browser at the shell's URL: with the credential, if any."""
    if credential := pod.env.get("TTYD_CREDENTIAL"):
        options = {"headers": {"Authorization": f"Basic {basic(credential)}"}, "auth_token": basic(credential),
                   **options}  # fmt: skip
    return await TtydClient.connect(pod.url + query, **options)


async def page(pod: Pod, path: str, **headers: str) -> int:
    """The HTTP status of a page of the pod's ttyd."""
    response = await AsyncHTTPClient().fetch(f"http://{pod.address}{path}", headers=headers, raise_error=False)
    return response.code


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
async def test_each_flag_is_taken_and_the_shell_s_own_command_runs(tmp_path, spec):
    async with shell_pod(tmp_path, **spec) as pod:
        term = await connect(pod)
        await term.expect(RAN)
        assert term.title == f"sh -c {COMMAND} ({POD})"  # ttyd's own account of what it runs
        await term.close()


async def test_once_serves_one_client_then_ttyd_exits(tmp_path):
    async with shell_pod(tmp_path, once=True) as pod:
        term = await connect(pod)
        await term.expect(RAN)
        with pytest.raises(HTTPClientError):  # refused while the one client is there
            await connect(pod)
        await term.close()
        assert await pod.exited() == 0  # the pod ends: the Job succeeds


async def test_client_options_reach_the_browser_as_typed_values(tmp_path):
    """Numbers, booleans and JSON objects arrive typed, any other value as the string itself (what
    a local shell sends, protocol.client_option_value): also one that starts like a number or has
    ``=`` in it, which ttyd reads wrong when given as is."""
    options = {
        "fontSize": "20",
        "lineHeight": "1.2",
        "cursorBlink": "true",
        "cursorStyle": "bar",
        "theme": '{"background": "#101010", "selection": "rgba(0,0,0,0.5)"}',
        "fontFamily": "3270 Nerd Font, monospace",
        "titleFixed": "kubectl get pods --selector=app=web",
        "rendererType": "True",
        "scrollback": "010",
    }
    expected = {
        "fontSize": 20,
        "lineHeight": 1.2,
        "cursorBlink": True,
        "cursorStyle": "bar",
        "theme": {"background": "#101010", "selection": "rgba(0,0,0,0.5)"},
        "fontFamily": "3270 Nerd Font, monospace",
        "titleFixed": "kubectl get pods --selector=app=web",
        "rendererType": "True",
        "scrollback": "010",
    }
    assert {key: client_option_value(value) for key, value in options.items()} == expected
    async with shell_pod(tmp_path, ttydClientOptions=options) as pod:
        term = await connect(pod)
        await term.expect(RAN)
        assert term.preferences == expected
        await term.close()


async def test_the_ping_interval_is_ttyd_s(tmp_path):
    """ttyd pings an idle client every TTYD_PING_INTERVAL seconds (its default is 5)."""
    async with shell_pod(tmp_path, env=[{"name": "TTYD_PING_INTERVAL", "value": "1"}]) as pod:
        term = await connect(pod)
        pings: list[bytes] = []
        term.connection.on_ping = pings.append  # type: ignore[method-assign]
        await term.expect(RAN)
        await eventually(lambda: asyncio.sleep(0, bool(pings)), timeout=4, what="a ping from ttyd")
        await term.close()


@pytest.mark.parametrize(
    "spec",
    [SPECS["default"], SPECS["Ingress-prefix-suffix"], SPECS["VirtualService"], SPECS["GatewayAPI"]],
    ids=["ClusterIP", "Ingress", "VirtualService", "GatewayAPI"],
)
async def test_ttyd_serves_under_the_route_path_and_the_shell_s_token_only(tmp_path, spec):
    """A proxy passes the route's path on as it is: ttyd serves its page and terminal there (-b), under
    the shell's token. Knowing the pod's address, or the route, is not enough: 404 without the token."""
    route = names.route_path(cloudshell(**spec)) if "exposureMode" in spec else ""
    async with shell_pod(tmp_path, **spec) as pod:
        assert pod.base_path == f"{route}/{TOKEN}"
        assert await page(pod, f"{pod.base_path}/") == 200
        for without_the_token in ("/", "/ws", f"{route}/", f"{route}/ws", f"{route}/{TOKEN[:-1]}/"):
            assert await page(pod, without_the_token) == 404, without_the_token
        with pytest.raises(HTTPClientError):  # the upgrade refused: ttyd closes the connection
            await TtydClient.connect(f"ws://{pod.address}{route}/ws")
        term = await connect(pod)
        await term.expect(RAN)
        await term.close()


@pytest.mark.parametrize("credential", [CREDENTIAL, CREDENTIAL_SECRET], ids=["value", "secretKeyRef"])
async def test_a_credential_is_asked_for_and_the_shell_does_not_see_it(tmp_path, credential):
    action = f'echo "credential: ${{TTYD_CREDENTIAL:-not set}}"; {COMMAND}'
    async with shell_pod(tmp_path, commandAction=action, env=[credential]) as pod:
        good, base = f"Basic {basic('alice:s3cret')}", f"{pod.base_path}/"
        assert await page(pod, base) == 401
        assert await page(pod, base, Authorization=f"Basic {basic('alice:wrong')}") == 401
        assert await page(pod, base, Authorization=good) == 200
        assert await page(pod, "/", Authorization=good) == 404  # the credential and the token: both

        with pytest.raises(HTTPClientError):  # no Authorization: refused before the upgrade
            await TtydClient.connect(pod.url, auth_token=basic("alice:s3cret"))
        wrong_token = await TtydClient.connect(pod.url, headers={"Authorization": good}, auth_token=basic("a:b"))
        with pytest.raises(TtydClosed):  # the handshake's token is checked too: nothing runs
            await wrong_token.expect(RAN)

        term = await connect(pod)
        await term.expect(rb"credential: not set\r\n")
        await term.expect(RAN)
        await term.close()


@pytest.mark.parametrize("url_arg, seen", [(True, b"<one><two words>"), (False, b"<sh>")], ids=["urlArg", "no urlArg"])
async def test_url_arguments_reach_the_command_only_with_url_arg(tmp_path, url_arg, seen):
    """With ``urlArg``, ttyd appends the URL's ``arg`` values to ``sh -c <commandAction>`` (as
    upstream CloudTTY renders it): the first is the shell's ``$0``, the others ``$1``..."""
    action = f"""printf '<%s>' "$0" "$@"; echo; {COMMAND}"""
    async with shell_pod(tmp_path, commandAction=action, urlArg=url_arg) as pod:
        term = await connect(pod, "?arg=one&arg=two%20words")
        await term.expect(seen + rb"\r\n")
        await term.expect(RAN)
        await term.close()


@pytest.mark.parametrize(
    "name, value",
    [("TTYD_PING_INTERVAL", "1"), ("TTYD_PING_INTERVAL", "65528"), ("TTYD_SERVER_BUFFER_SIZE", "0")],
)
async def test_the_ends_of_the_numbers_a_spec_may_give_ttyd_work(tmp_path, name, value):
    async with shell_pod(tmp_path, env=[{"name": name, "value": value}]) as pod:
        term = await connect(pod)
        await term.expect(RAN)
        await term.close()


@pytest.mark.parametrize(
    "name, value",
    [
        ("TTYD_PING_INTERVAL", "0"),  # ttyd then sends no output at all
        ("TTYD_PING_INTERVAL", "65536"),  # kept in 16 bits: 0
        ("TTYD_PING_INTERVAL", "5s"),  # ttyd reads 5
        ("TTYD_PING_INTERVAL", "-1"),  # ttyd exits
        ("TTYD_SERVER_BUFFER_SIZE", "4k"),  # ttyd reads 4
        ("TTYD_SERVER_BUFFER_SIZE", "0x1000"),  # ttyd reads 4096 (C's strtol)
        ("TTYD_SERVER_BUFFER_SIZE", ""),  # ttyd exits
    ],
)
def test_a_number_ttyd_would_refuse_or_misread_is_refused_with_the_spec(name, value):
    with pytest.raises(InvalidShell, match=f"spec.env.0..value: {name} must be a whole number from"):
        manifests.validated(cloudshell(env=[{"name": name, "value": value}]))
