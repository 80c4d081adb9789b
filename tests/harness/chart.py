"""The Helm chart rendered by Helm's own engine (helm-python-sdk, no binary): what `helm template
--include-crds` prints, as parsed objects. For the chart's tests, the plain manifests and the tests
that install it on the real control plane."""

from __future__ import annotations

from pathlib import Path

import helm_python as helm
import yaml

ROOT = Path(__file__).parents[2]
CHART = ROOT / "deploy" / "helm" / "jupyter-cloudtty"
MANIFESTS = ROOT / "deploy" / "manifests" / "jupyter-cloudtty.yaml"


def render(values: dict, *, name: str = "rel", namespace: str = "shells") -> list[dict]:
    """`helm template --include-crds` as parsed objects."""
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name=name, namespace=namespace)
        texts = [text for path, text in sorted(files.items()) if not path.endswith("NOTES.txt")]
        texts += [crd["data"] for crd in chart.crds]
    return [doc for text in texts for doc in yaml.safe_load_all(text) if doc]
