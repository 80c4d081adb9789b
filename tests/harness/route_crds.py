"""The CRDs of the routes a shell can have besides an Ingress: Istio's VirtualService and the Gateway
API's GatewayClass, Gateway and HTTPRoute, as their projects publish them.

Read from the projects' own Go modules at the versions pinned below, fetched with `go mod download`
(the Go module proxy the first time, the machine's module cache after), so the real API server checks
what the operator writes against the very schemas a cluster would have. The repository holds no copy.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import yaml

from tests.harness.controlplane import ControlPlaneError

ISTIO = ("istio.io/api", "v1.32.0")
GATEWAY_API = ("sigs.k8s.io/gateway-api", "v1.6.3")
ISTIO_FILE = "kubernetes/customresourcedefinitions.gen.yaml"  # every Istio CRD, one document each
ISTIO_KINDS = ("VirtualService",)  # it names its Gateways by string: no other Istio CRD is needed
GATEWAY_API_FILES = tuple(
    f"config/crd/standard/gateway.networking.k8s.io_{plural}.yaml"  # the standard channel: HTTPRoute v1
    for plural in ("gatewayclasses", "gateways", "httproutes")
)
# The C parser when PyYAML has it: Istio's file is 1 MB, ten times faster to read.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def module_dir(module: str, version: str) -> Path:
    """Where the Go module's files are (read-only, in the module cache), downloaded first if need be."""
    try:
        with tempfile.TemporaryDirectory() as outside:  # no go.mod around: nothing of ours is touched
            done = subprocess.run(
                ["go", "mod", "download", "-json", f"{module}@{version}"], cwd=outside, capture_output=True, text=True
            )
    except FileNotFoundError:
        raise ControlPlaneError("Go is missing: the route CRDs are read from Go modules") from None
    try:
        info = json.loads(done.stdout)
    except json.JSONDecodeError:
        info = {"Error": done.stderr.strip() or f"go exited with {done.returncode}"}
    if done.returncode != 0 or "Error" in info:
        raise ControlPlaneError(f"go mod download {module}@{version}: {info.get('Error')}")
    return Path(info["Dir"])


def route_crds() -> tuple[str, ...]:
    """The CRDs to install, as published (YAML texts): Istio's VirtualService, then the Gateway API's."""
    istio = (module_dir(*ISTIO) / ISTIO_FILE).read_text()
    chosen = [
        text
        for text in re.split(r"^---$", istio, flags=re.MULTILINE)
        if (yaml.load(text, Loader=_Loader) or {}).get("spec", {}).get("names", {}).get("kind") in ISTIO_KINDS
    ]
    if len(chosen) != len(ISTIO_KINDS):
        raise ControlPlaneError(f"{ISTIO[0]}@{ISTIO[1]}: {ISTIO_FILE} lacks one of {ISTIO_KINDS}")
    gateway_api = module_dir(*GATEWAY_API)
    return (*chosen, *((gateway_api / name).read_text() for name in GATEWAY_API_FILES))
