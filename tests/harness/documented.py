"""What docs/administrators.md tells an administrator to apply, read from the page as written.

Tests that run a Jupyter server on the real control plane give it exactly the rights the page
documents (its Role and RoleBinding), so a rule the page forgets fails a test instead of an
administrator's first try.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.harness.controlplane import ControlPlane

ADMINISTRATORS = Path(__file__).resolve().parents[2] / "docs" / "administrators.md"


def examples(page: Path = ADMINISTRATORS) -> list[dict]:
    """Every YAML document of the page's ```yaml blocks."""
    blocks = re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if isinstance(doc, dict)]


def documented(kind: str, page: Path = ADMINISTRATORS) -> dict:
    """The one YAML example of ``kind`` on the page (an AssertionError if there are none or several)."""
    [example] = [doc for doc in examples(page) if doc.get("kind") == kind] or [None]
    assert example is not None, f"{page.name} shows no {kind}"
    return example


def z2jh_values(page: Path = ADMINISTRATORS) -> dict:
    """The page's zero-to-jupyterhub values (the one example with a ``singleuser`` section)."""
    [values] = [doc for doc in examples(page) if "singleuser" in doc]
    return values


def z2jh_server_config(page: Path = ADMINISTRATORS) -> tuple[str, dict]:
    """The config file the page's zero-to-jupyterhub values mount in every single-user server: its
    file name (where Jupyter looks for it decides whether it is read at all) and its contents."""
    extra = z2jh_values(page)["singleuser"]["extraFiles"]["cloudtty"]
    return Path(extra["mountPath"]).name, extra["data"]


def z2jh_user_namespace_labels(username: str, page: Path = ADMINISTRATORS) -> dict[str, str]:
    """The labels KubeSpawner puts on ``username``'s namespace with the page's `user_namespace_labels`
    (``{username}`` expanded, as KubeSpawner expands it for a name that needs no escaping)."""
    labels = z2jh_values(page)["hub"]["config"]["KubeSpawner"]["user_namespace_labels"]
    return {key: value.format(username=username) for key, value in labels.items()}


def grant_documented_role(cluster: ControlPlane, namespace: str, account: str = "cloudtty-user") -> Path:
    """The page's Role and RoleBinding in ``namespace`` for a ServiceAccount ``account`` of that
    namespace (the page's namespaces and subject replaced, nothing else); a kubeconfig with a token of
    that account, as the Jupyter server's pod would hold it."""
    role, binding = documented("Role"), documented("RoleBinding")
    role["metadata"]["namespace"] = binding["metadata"]["namespace"] = namespace
    binding["metadata"]["name"] = binding["roleRef"]["name"] = role["metadata"]["name"]
    binding["subjects"] = [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    cluster.kubectl("create", "serviceaccount", account, "-n", namespace)
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]})
    )
    return cluster.service_account_kubeconfig(namespace, account)
