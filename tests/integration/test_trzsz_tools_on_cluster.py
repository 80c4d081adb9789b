"""trz and tsz in a cluster shell's pod: the shell image's own (deploy/image/requirements.txt, on Debian's
python3), at the prompt of the operator's Job as its user 1000 meets them, on the real control plane and
the tests' node, reached through the API server's service proxy. No operator or Jupyter server: the
operator's manifests applied as it applies them (as tests/integration/test_kubelet.py does).
"""

from __future__ import annotations

import json
import re

import pytest

from jupyter_cloudtty.operator import manifests
from jupyter_cloudtty.operator.settings import Settings
from tests.harness.checks import trz_starts_and_obeys_a_cancel
from tests.harness.rootfs import trzsz_version
from tests.harness.shells_on_cluster import kubectl_json, terminal

pytestmark = pytest.mark.slow


async def test_the_shell_s_user_runs_trz_and_tsz_and_trz_announces_an_upload(control_plane, node, namespace):
    cluster = control_plane
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": "files"},
        "spec": {"exposureMode": "ClusterIP"},
    }))  # fmt: skip
    shell = manifests.validated(kubectl_json(cluster, "get", "cloudshell/files", "-n", namespace))
    job, token = manifests.job(shell, Settings()), "the-token-of-files"
    objects = [manifests.secret(shell, token), manifests.service_account(shell), manifests.service(shell), job]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                            "items": objects}))  # fmt: skip
    name = job["metadata"]["name"]
    cluster.kubectl("wait", "--for=jsonpath={.status.ready}=1", f"job/{name}", "-n", namespace, "--timeout=60s")
    cluster.kubectl("wait", "--for=jsonpath={.endpoints[0].conditions.ready}=true", "endpointslice", "-l",
                    f"kubernetes.io/service-name={name}", "-n", namespace, "--timeout=60s")  # fmt: skip

    term = await terminal(cluster, namespace, name, f"/{token}")
    try:
        version = trzsz_version()
        await term.send("PS1='prompt''> '; id -u; command -v trz tsz; trz --version; tsz --version\r")
        await term.expect(rb"\r1000\r\n/usr/local/bin/trz\r\n/usr/local/bin/tsz\r\n")
        await term.expect(re.escape(f"trz (trzsz) py {version}\r\ntsz (trzsz) py {version}\r\n"))
        await term.expect(rb"prompt> ")
        await trz_starts_and_obeys_a_cancel(term, version)
    finally:
        await term.close()
