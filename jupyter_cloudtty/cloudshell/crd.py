"""The CloudShell CustomResourceDefinition as shipped (``jupyter cloudtty crd``, the Helm chart)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml


def crd_yaml() -> str:
    """The CloudShell CustomResourceDefinition, as shipped (and in the Helm chart)."""
    return files(__package__).joinpath("crd.yaml").read_text()


@cache
def crd() -> dict[str, Any]:
    return yaml.safe_load(crd_yaml())


def spec_schema() -> dict[str, Any]:
    """The OpenAPI schema of ``spec``: what the API server validates and defaults."""
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
