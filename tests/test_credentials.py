"""Finding credentials as kubectl finds them: which files, merged how, in which order with the ServiceAccount."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from jupyter_cloudtty.kube import credentials
from jupyter_cloudtty.kube.credentials import CredentialsError, find, kubeconfig_paths, merge_kubeconfigs


def kubeconfig(path: Path, context: str, namespace: str = "", current: str | None = None, **user) -> Path:
    """A kubeconfig with one context (and its cluster and user) named after ``context``."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": f"https://{context}.example:6443"}}],
        "users": [{"name": context, "user": user or {"token": f"{context}-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
    }
    if current is not None:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A home without ~/.kube/config (unless a test writes one)."""
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def pod(tmp_path, monkeypatch):
    """A pod's ServiceAccount mounted where client-go looks (here: under tmp_path), and its environment."""
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text("pod-token")
    (directory / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (directory / "namespace").write_text("jhub\n")
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT_DIR", str(directory))
    return {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }


def test_kubeconfig_paths_are_kubectls(tmp_path):
    a, b = kubeconfig(tmp_path / "a", "a"), kubeconfig(tmp_path / "b", "b")
    listed = os.pathsep.join([str(a), str(tmp_path / "missing"), str(b), str(a)])
    env = {
        "KUBECONFIG": listed,
    }
    assert kubeconfig_paths(env=env) == [str(a), str(b)]  # those that exist, once each, in order
    assert kubeconfig_paths(str(b), env) == [str(b)]  # a file given wins over $KUBECONFIG
    (tmp_path / ".kube").mkdir()
    default = kubeconfig(tmp_path / ".kube" / "config", "home")
    assert kubeconfig_paths(env={}) == [str(default)]
    assert kubeconfig_paths(env={"KUBECONFIG": str(tmp_path / "missing")}) == []


def test_kubeconfigs_merge_as_kubectl_merges_them():
    first = {"current-context": "", "contexts": [{"name": "a", "context": {"namespace": "first"}}]}
    second = {
        "current-context": "b",
        "contexts": [{"name": "a", "context": {"namespace": "second"}}, {"name": "b", "context": {}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    merged = merge_kubeconfigs([first, second])
    assert merged["current-context"] == "b"
    assert merged["contexts"] == [{"name": "a", "context": {"namespace": "first"}}, {"name": "b", "context": {}}]
    assert merged["users"] == [{"name": "u", "user": {"token": "t"}}]


def test_the_first_file_setting_current_context_wins_and_says_so(tmp_path):
    a = kubeconfig(tmp_path / "a", "a", current="b")  # names a context of the second file
    b = kubeconfig(tmp_path / "b", "b", namespace="team", current="a")
    found = find(
        env={
            "KUBECONFIG": f"{a}{os.pathsep}{b}",
        }
    )
    assert (found.source, found.context, found.namespace) == (
        f"kubeconfig {a}{os.pathsep}{b}, context 'b'",
        "b",
        "team",
    )
    assert found.configuration().host == "https://b.example:6443"
    assert found.configuration().api_key["BearerToken"] == "Bearer b-token"
    other = find(
        context="a",
        env={
            "KUBECONFIG": f"{a}{os.pathsep}{b}",
        },
    )
    assert (other.context, other.namespace, other.user) == ("a", "default", {"token": "a-token"})
    with pytest.raises(CredentialsError, match="no context 'c'"):
        find(
            context="c",
            env={
                "KUBECONFIG": str(a),
            },
        )


def test_relative_files_are_the_kubeconfigs_neighbours(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca.crt", "me.crt", "me.key"):
        (certs / name).write_text("-----BEGIN-----\n")
    doc = yaml.safe_load(kubeconfig(tmp_path / "config", "c", current="c").read_text())
    doc["clusters"][0]["cluster"]["certificate-authority"] = "certs/ca.crt"
    doc["users"][0]["user"] = {"client-certificate": "certs/me.crt", "client-key": str(certs / "me.key")}
    (tmp_path / "config").write_text(yaml.safe_dump(doc))
    found = find(str(tmp_path / "config"), env={})
    assert found.cluster["certificate-authority"] == str(certs / "ca.crt")
    assert found.user == {"client-certificate": str(certs / "me.crt"), "client-key": str(certs / "me.key")}
    configuration = found.configuration()
    assert (configuration.ssl_ca_cert, configuration.cert_file) == (str(certs / "ca.crt"), str(certs / "me.crt"))


def test_services_take_the_pods_serviceaccount_first_and_kubectl_a_kubeconfig_first(pod, tmp_path):
    env = {**pod, "KUBECONFIG": str(kubeconfig(tmp_path / "config", "dev", current="dev"))}
    service = find(env=env)
    assert (service.source, service.namespace, service.in_cluster) == ("the pod's ServiceAccount", "jhub", True)
    configuration = service.configuration()
    assert configuration.host == "https://10.96.0.1:443"
    assert configuration.api_key["BearerToken"].lower() == "bearer pod-token"
    assert find(env=env, prefer_in_cluster=False).source == f"kubeconfig {tmp_path / 'config'}, context 'dev'"
    # A kubeconfig given rules the ServiceAccount out; without any kubeconfig, kubectl takes the ServiceAccount.
    assert find(str(tmp_path / "config"), env=env).context == "dev"
    assert find(env=pod, prefer_in_cluster=False).in_cluster
    assert find(context="dev", env=pod, prefer_in_cluster=False) is None  # kubectl: no such context
    assert find(env={**pod, "POD_NAMESPACE": "elsewhere"}).namespace == "elsewhere"  # as client-go reads it


def test_no_credentials(tmp_path):
    assert find(env={}) is None
    assert find(env={"KUBERNETES_SERVICE_HOST": "10.96.0.1"}) is None  # no token mounted


def test_clients_say_who_asks(tmp_path):
    found = find(str(kubeconfig(tmp_path / "config", "c", current="c")), env={})
    api = found.client(user_agent="jupyter-cloudtty/test", retries=1)
    assert api.user_agent == "jupyter-cloudtty/test" and api.configuration.retries == 1
