"""`jupyter cloudtty operator`: the operator's own program, as the chart's Deployment runs it.

The tests of test_operator.py run the registry in-process; this one runs the command a user or the
chart runs, credentials found from a kubeconfig, against the emulated API server.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from tests.harness.controllers import NS, cloudshell, wait_phase
from tests.harness.emulator import Api, emulated_kubernetes
from tests.harness.kube import write_kubeconfig

pytestmark = pytest.mark.slow


async def test_the_operator_command_reconciles_a_shell(tmp_path):
    async with emulated_kubernetes() as k8s:
        api = Api(k8s)
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", str(k8s.url))
        operator = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jupyter_cloudtty", "operator", f"--namespace={NS}", "--standalone",
            env={**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await api.create(cloudshell())
            reconciled = await asyncio.wait_for(wait_phase(api, "CreatedRouteRule"), 30)
        except BaseException:
            reconciled = None
        operator.terminate()
        log = (await operator.communicate())[0].decode()
        assert reconciled is not None, log
        assert await api.get("Job", NS, "cloudshell-s1") is not None
        assert "Traceback" not in log, log


async def test_without_credentials_the_operator_command_says_so(tmp_path):
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    operator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jupyter_cloudtty", "operator", "--namespace=shells",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await operator.communicate())[0].decode()
    assert operator.returncode != 0
    assert "no cluster credentials" in out and "Traceback" not in out, out
