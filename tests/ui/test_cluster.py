"""The panel and a terminal tab with the Kubernetes backend, on the real control plane: the Jupyter
server holds exactly docs/administrators.md's Role (harness/documented.py) and relays through the API
server (``connect_via = "apiserver"``); the chart's operator makes each shell a Job that the tests'
node runs with the real ttyd (harness/installed.py, harness/kubelet.py). The UI shows the phases as
the operator writes them."""

from __future__ import annotations

import json

from playwright.sync_api import Browser, expect

from tests.harness.lab import open_lab, open_panel, type_in_terminal, wait_for_text
from tests.harness.lab_pages import lab_on_cluster, own_page


def test_a_cluster_shell_from_pending_to_ready_to_deleted(
    browser: Browser, control_plane, node, namespace, tmp_path, output_dir
) -> None:
    log = output_dir / "test_cluster-jupyter-lab.log"
    with lab_on_cluster(control_plane, namespace, tmp_path, log) as (lab, release), own_page(browser) as page:
        release.stop_operator()  # held back (an upgrade, say) so that Pending is seen, not raced
        open_lab(page, lab)
        open_panel(page)
        panel = page.locator("#jp-CloudTTY-panel")
        expect(panel.locator(".jp-CloudTTY-backend")).to_have_text(f"Kubernetes · {namespace}")

        # New shell: a CloudShell, Pending while no operator acts on it; the tab says so.
        panel.get_by_role("button", name="New shell").click()
        item = panel.locator(".jp-CloudTTY-shell")
        expect(item).to_have_count(1)
        name = item.get_attribute("data-shell-name")
        shell = json.loads(control_plane.kubectl("get", "cloudshell", name, "-n", namespace, "-o", "json"))
        assert shell["metadata"]["labels"]["jupyter-cloudtty.io/owner"] == "alice"
        expect(item.locator(".jp-CloudTTY-phase")).to_have_text("Pending")
        banner = page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"] .jp-CloudTTY-banner')
        expect(banner).to_have_text("The shell is starting (phase: Pending)…")

        # The operator comes back: a Job, a pod on the node, Ready, live in the panel; the
        # terminal starts with the pod's ttyd, relayed through the API server.
        release.start_operator()
        expect(item.locator(".jp-CloudTTY-phase")).to_have_text("Ready", timeout=90000)
        wait_for_text(page, name, r"[$#] $", timeout=30000)
        expect(banner).to_be_hidden()
        type_in_terminal(page, name, "echo $((6*7))")
        wait_for_text(page, name, "^42$")
        page.screenshot(path=output_dir / "cluster-shell.png")

        # Its pod is lost (deleted here, as a drained node does): a new pod serves the shell, the tab
        # goes on in its new process and says what was lost; the panel marks the shell restarted.
        pod = json.loads(control_plane.kubectl("get", "cloudshell", name, "-n", namespace, "-o", "json"))["status"]
        type_in_terminal(page, name, "export MARK=old")
        control_plane.kubectl("delete", "pod", pod["podName"], "-n", namespace, "--wait=false")
        expect(banner).to_contain_text("The shell's pod was replaced: the old process and what it held are gone",
                                       timeout=90000)  # fmt: skip
        expect(banner).to_contain_text(f"its pod {pod['podName']} was lost")
        expect(item).to_contain_text("restarted")
        wait_for_text(page, name, r"[$#] $", timeout=30000)
        type_in_terminal(page, name, 'echo "mark=${MARK:-gone} $((6*8))"')
        wait_for_text(page, name, "^mark=gone 48$")
        banner.get_by_role("button", name="Dismiss").click()
        expect(banner).to_be_hidden()

        # Delete: the CloudShell goes, its Job with it, and so does the row.
        item.get_by_role("button", name=f"Delete {name}").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        expect(panel.locator(".jp-CloudTTY-shell")).to_have_count(0)
        control_plane.kubectl("wait", "--for=delete", f"cloudshell/{name}", f"job/cloudshell-{name}",
                              "-n", namespace, "--timeout=60s")  # fmt: skip
