"""Render the Helm chart with its default values into plain manifests (release `rel`, namespace `shells`).

    python deploy/render_manifests.py      # rewrites deploy/manifests/jupyter-cloudtty.yaml

For `kubectl apply -f` without Helm. tests/test_chart.py checks the file is current.
"""

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.harness.chart import MANIFESTS, render  # noqa: E402

MANIFESTS.parent.mkdir(parents=True, exist_ok=True)
MANIFESTS.write_text(yaml.safe_dump_all(render({}), sort_keys=False))
print(f"wrote {MANIFESTS}")
