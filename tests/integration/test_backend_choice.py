"""c.CloudTTY.backend: what `auto` picks, and why, and what users see when the cluster lacks the CRD.

On the real control plane: the session's (with the CloudShell CRD) and one of this module's own
without it, so the API server's own answer to an unknown resource is what the server interprets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.harness.controlplane import ControlPlane

pytestmark = pytest.mark.slow  # real control planes


@pytest.fixture(scope="module")
def bare_control_plane(tmp_path_factory):
    """A real control plane that nobody installed the CloudShell CRD in."""
    with ControlPlane(Path(tmp_path_factory.mktemp("no-crd"))) as cluster:
        yield cluster


@pytest.fixture
def cluster(request):
    """A real cluster with or without the CloudShell CRD (``cluster`` is the parameter), or none."""
    if request.param is None:
        return None
    name = "control_plane" if request.param == "with-crd" else "bare_control_plane"
    return request.getfixturevalue(name)


def kubeconfig_for(cluster: ControlPlane, path: Path) -> Path:
    """The cluster's admin kubeconfig as a user's file: context "cluster", namespace "team"."""
    doc = yaml.safe_load(cluster.admin.read_text())
    doc["contexts"] = [{"name": "cluster", "context": {**doc["contexts"][0]["context"], "namespace": "team"}}]
    doc["current-context"] = "cluster"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def cloudtty_config(cluster, tmp_path, backend):
    kubeconfig = tmp_path / "kubeconfig"
    if cluster is not None:
        kubeconfig_for(cluster, kubeconfig)
    return {"backend": backend, "kubeconfig": str(kubeconfig), "owner": "alice", "connect_via": "apiserver"}


@pytest.fixture(autouse=True)
def server_stops_before_the_cluster(jp_serverapp, cluster, jp_asyncio_loop):
    yield
    app = jp_serverapp.extension_manager.extension_points["jupyter_cloudtty"].app
    jp_asyncio_loop.run_until_complete(app.shell_backend.shutdown())


async def info(jp_fetch) -> dict:
    return json.loads((await jp_fetch("cloudtty", "api", "info")).body)


@pytest.mark.parametrize("backend", ["auto"])
@pytest.mark.parametrize(
    "cluster, chosen, reason",
    [
        ("with-crd", "kubernetes", "kubeconfig "),
        ("without-crd", "local", "found, but the CloudShell CRD is not installed in this cluster"),
        (None, "local", "no cluster credentials found (in-cluster or kubeconfig)"),
    ],
    indirect=["cluster"],
)
async def test_auto_takes_the_cluster_only_when_cloudshells_are_there(jp_fetch, chosen, reason):
    answer = await info(jp_fetch)
    assert answer["backend"] == chosen
    assert reason in answer["reason"], answer["reason"]


@pytest.mark.parametrize("backend", ["kubernetes"])
@pytest.mark.parametrize("cluster", ["without-crd"], indirect=True)
async def test_a_cluster_without_the_crd_says_how_to_install_it(api):
    for method in ("GET", "POST"):
        status, answer, _ = await api(method, body={"name": "s1"} if method == "POST" else None)
        assert status == 503, answer
        install = "install it (jupyter cloudtty crd | kubectl apply -f -)"
        assert answer["message"].startswith(f"the CloudShell CRD is not installed in this cluster; {install}"), answer


@pytest.mark.parametrize("backend", ["local"])
@pytest.mark.parametrize("cluster", ["with-crd"], indirect=True)
async def test_local_is_local_even_with_a_cluster(jp_fetch):
    answer = await info(jp_fetch)
    assert (answer["backend"], answer["reason"]) == ("local", "c.CloudTTY.backend is 'local'")


class TestKubeconfigFiles:
    """c.CloudTTY.kubeconfig (or $KUBECONFIG) naming several files: merged by kubectl's rules, as kubectl
    would read them; /api/info says which files and which context."""

    @pytest.fixture
    def cloudtty_config(self, cluster, tmp_path, backend):
        first = tmp_path / "first"  # sets current-context, to a context of the second file
        first.write_text(yaml.safe_dump({"current-context": "cluster", "contexts": [], "clusters": [], "users": []}))
        second = kubeconfig_for(cluster, tmp_path / "second")
        doc = yaml.safe_load(second.read_text())
        doc["current-context"] = "elsewhere"  # the python client's own merge would take this one
        doc["clusters"].append({"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}})
        doc["contexts"].append({"name": "elsewhere", "context": {"cluster": "nowhere", "user": "admin"}})
        second.write_text(yaml.safe_dump(doc))
        files = f"{first}{os.pathsep}{tmp_path / 'missing'}{os.pathsep}{second}"
        self.expected = f"kubeconfig {first}{os.pathsep}{second}, context 'cluster'"
        return {"backend": backend, "kubeconfig": files, "owner": "alice", "connect_via": "apiserver"}

    @pytest.mark.parametrize("backend", ["auto"])
    @pytest.mark.parametrize("cluster", ["with-crd"], indirect=True)
    async def test_the_first_file_to_set_current_context_wins(self, jp_fetch, cluster):
        answer = await info(jp_fetch)
        assert (answer["backend"], answer["credentials"], answer["namespace"]) == ("kubernetes", self.expected, "team")
        assert answer["reason"] == f"{self.expected} at {cluster.url.rstrip('/')}"
