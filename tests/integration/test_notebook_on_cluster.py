"""A notebook's kernel on the real control plane: ``%cloudtty``, ``ShellTerminal`` and ``%kubectl`` in a
kernel of a Jupyter server that holds exactly docs/administrators.md's Role (harness/documented.py)
and relays through the API server, the chart's operator making each shell a Job on the tests' node.
The kernel inherits the server's environment, its kubeconfig with it, as on a single-user server."""

from __future__ import annotations

import pytest

from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.ipython import text_rows
from tests.harness.kernels import ServerKernel
from tests.harness.servers import JupyterProcess

pytestmark = pytest.mark.slow


async def test_shells_and_kubectl_from_a_notebook_on_the_cluster(control_plane, node, namespace, tmp_path):
    kubeconfig = grant_documented_role(control_plane, namespace)
    args = ("--CloudTTY.backend=kubernetes", f"--CloudTTY.namespace={namespace}", "--CloudTTY.owner=alice",
            "--CloudTTY.connect_via=apiserver")  # fmt: skip
    root = tmp_path / "root"
    root.mkdir()
    server = JupyterProcess("jupyter_server", root, args=args)
    server.env |= {"KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "kube-cache")}
    async with Installed(control_plane, namespace, tmp_path), server, ServerKernel.of(server) as kernel:
        assert (await kernel.run("%load_ext jupyter_cloudtty")).error is None
        info = await kernel.run("%cloudtty info")
        rows = {row["FIELD"]: row["VALUE"] for row in text_rows(info.result["text/plain"])}
        assert (rows["backend"], rows["namespace"], rows["connectVia"]) == ("kubernetes", namespace, "apiserver")

        new = await kernel.run("%cloudtty new work --ttl 600")
        assert new.error is None and new.stderr == ""
        [shown] = text_rows(new.displays[0]["text/plain"])
        assert {"NAME": "work", "COMMAND": "bash", "TTL": "600s"}.items() <= shown.items()

        term = await kernel.run("t = %cloudtty open work\nprint(t.wait_for(r'[$#]$', timeout=90)[0])", timeout=100)
        assert term.error is None, term.error
        answer = await kernel.run(r"t.send('echo $((6*7)) $(hostname)\r'); print(t.wait_for(r'^42 \S+$')[0])")
        assert answer.error is None, answer.error
        assert answer.stdout.startswith("42 cloudshell-work-"), answer.stdout

        # The API server's own table of the CRD's columns, as the kubectl binary prints it for the same user.
        listing = await kernel.run(f"%kubectl get cloudshells -n {namespace}")
        assert listing.error is None and listing.stderr == "", listing.stderr
        by_kubectl = control_plane.kubectl("get", "cloudshells", "-n", namespace, kubeconfig=kubeconfig)
        [row] = text_rows(listing.stdout or listing.result["text/plain"])
        assert {"NAME": "work", "COMMAND": "bash", "TYPE": "ClusterIP", "PHASE": "Ready"}.items() <= row.items()
        without_age = [{k: v for k, v in r.items() if k != "AGE"} for r in text_rows(by_kubectl)]
        assert [{k: v for k, v in row.items() if k != "AGE"}] == without_age

        gone = await kernel.run("%cloudtty rm work")
        assert gone.stdout == "deleted shell work\n"
        control_plane.kubectl("wait", "--for=delete", "cloudshell/work", "job/cloudshell-work", "-n", namespace,
                              "--timeout=60s")  # fmt: skip
