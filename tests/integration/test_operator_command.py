"""`jupyter cloudtty operator` without a cluster to run against.

The command itself, as the chart's Deployment runs it with the chart ServiceAccount's token, runs
every real-cluster test of the operator (tests/harness/installed.py).
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

pytestmark = pytest.mark.slow


async def test_without_credentials_the_operator_command_says_so(tmp_path):
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    operator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jupyter_cloudtty", "operator", "--namespace=shells",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await operator.communicate())[0].decode()
    assert operator.returncode != 0
    assert "no cluster credentials" in out and "Traceback" not in out, out
