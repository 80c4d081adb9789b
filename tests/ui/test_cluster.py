"""The same panel and terminals with the Kubernetes backend: shells are CloudShells on an emulated
API server (tests/harness/kube.py), their terminals the real ttyd 1.7.7 of a pod (tests/harness/pods.py) that the
server relays. The UI does not care: it shows the phases as the operator writes them."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.harness.emulator import Api
from tests.harness.kube import NS, SHELL, EmulatorThread, ready_condition, write_kubeconfig
from tests.harness.lab import Lab, open_lab, open_panel, type_in_terminal, wait_for_text
from tests.harness.pods import RunningPod, ttyd_pod


def test_a_cluster_shell_from_pending_to_ready_to_deleted(browser: Browser, tmp_path, output_dir) -> None:
    log = output_dir / "test_cluster-jupyter-lab.log"
    log.unlink(missing_ok=True)
    # The shell's pod: ttyd at the pod's address, as the operator's accessUrl will name it.
    with EmulatorThread() as k8s, RunningPod(ttyd_pod(SHELL, home=tmp_path / "home", env={"PS1": "$ "})) as pod:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", k8s.url)
        options = (
            "--CloudTTY.backend=kubernetes",
            f"--CloudTTY.kubeconfig={kubeconfig}",
            "--CloudTTY.owner=alice",
            "--CloudTTY.connect_via=url",
        )
        lab = Lab(tmp_path, log, options=options).start()
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            open_lab(page, lab)
            open_panel(page)
            panel = page.locator("#jp-CloudTTY-panel")
            expect(panel.locator(".jp-CloudTTY-backend")).to_have_text(f"Kubernetes · {NS}")

            # New shell: a CloudShell, Pending until the operator says otherwise; the tab says so.
            panel.get_by_role("button", name="New shell").click()
            item = panel.locator(".jp-CloudTTY-shell")
            expect(item).to_have_count(1)
            name = item.get_attribute("data-shell-name")
            assert k8s.run(Api(k8s.k8s).get("CloudShell", NS, name)) is not None
            expect(item.locator(".jp-CloudTTY-phase")).to_have_text("Pending")
            banner = page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"] .jp-CloudTTY-banner')
            expect(banner).to_have_text("The shell is starting (phase: Pending)…")

            # The operator's status, live in the panel; the terminal starts with the pod's ttyd.
            status = {"phase": "Ready", "accessUrl": pod.address, "conditions": [ready_condition()]}
            k8s.run(Api(k8s.k8s).patch("CloudShell", NS, name, {"status": status}, "status"))
            expect(item.locator(".jp-CloudTTY-phase")).to_have_text("Ready")
            wait_for_text(page, name, r"^\$ ", timeout=30000)
            expect(banner).to_be_hidden()
            type_in_terminal(page, name, "echo $((6*7))")
            wait_for_text(page, name, "^42$")
            page.screenshot(path=output_dir / "cluster-shell.png")

            # Delete: the CloudShell goes, and so does the row.
            item.get_by_role("button", name=f"Delete {name}").click()
            page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
            expect(panel.locator(".jp-CloudTTY-shell")).to_have_count(0)
            assert k8s.run(Api(k8s.k8s).get("CloudShell", NS, name)) is None
        finally:
            context.close()
            lab.stop()
