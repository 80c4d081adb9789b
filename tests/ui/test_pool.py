"""The panel where the operator keeps a warm pool, on the real control plane (as tests/ui/test_cluster.py:
the documented Role, the chart's operator, the tests' node running the real ttyd): a shell that cannot use
the pool says "starting (cold)" and why, and once Ready still says it started cold; a shell from New shell
starts in the pool's ready pod and says it came from the pool."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, expect

from jupyter_cloudtty.cloudshell.names import POOL_LABEL
from tests.harness.lab import open_lab, open_panel, type_in_terminal, wait_for_text
from tests.harness.lab_pages import lab_on_cluster, own_page
from tests.harness.shells_on_cluster import kubectl_json, pool_ready, watch_pods

OTHER_IMAGE = "registry.example/tools:1"  # allowed, not the pool's: the operator starts it cold


def test_the_panel_says_which_shell_started_cold_and_why_and_which_came_from_the_pool(
    browser: Browser, control_plane, node, namespace, tmp_path, output_dir
) -> None:
    log = output_dir / "test_pool-jupyter-lab.log"
    # Room for the pool's one pod and no other, so that the cold shell's pod waits (the namespace is
    # full, as it can be) and its "starting" row is seen, not raced; raised below.
    control_plane.kubectl("create", "quota", "pods", "--hard=pods=1", "-n", namespace)
    control_plane.kubectl("wait", "--for=jsonpath={.status.hard}", "resourcequota/pods", "-n", namespace,
                          "--timeout=60s")  # fmt: skip
    values = {"pool": {"namespaces": {namespace: 1}, "maxPods": 1}, "policy": {"allowedImages": ["registry.example/*"]}}
    options = ("--CloudTTY.allowed_images=registry.example/*",)
    with (
        lab_on_cluster(control_plane, namespace, tmp_path, log, values, options) as (lab, _),
        own_page(browser) as page,
    ):
        open_lab(page, lab)
        open_panel(page)
        panel = page.locator("#jp-CloudTTY-panel")
        watch_pods(control_plane, namespace, POOL_LABEL, lambda pods: bool(pool_ready(pods)))

        # Another image than the pool's: a cold start, and the row says so with the operator's reason.
        status, answer = lab.api("POST", "shells", {"name": "cold", "spec": {"image": OTHER_IMAGE}})
        assert status == 201, answer
        cold = panel.locator('.jp-CloudTTY-shell[data-shell-name="cold"]')
        expect(cold.locator(".jp-CloudTTY-phase")).to_have_text("starting (cold)", timeout=60000)
        warm_start = next(c for c in kubectl_json(control_plane, "get", "cloudshell", "cold", "-n", namespace)
                          ["status"]["conditions"] if c["type"] == "WarmStart")  # fmt: skip
        assert (warm_start["status"], warm_start["reason"]) == ("False", "ImageDiffers"), warm_start
        why = warm_start["message"]
        assert OTHER_IMAGE in why, why
        expect(cold.locator(".jp-CloudTTY-phase")).to_have_attribute(
            "title", re.compile("^" + re.escape(f"Cold start: {why} (phase: ") + r"\w+\)$")
        )
        # Said after the row's command (the button's description holds both).
        expect(cold.locator(".jp-CloudTTY-shell-open")).to_have_accessible_description(
            re.compile(re.escape(f"Cold start: {why}") + "$")
        )
        # Its terminal tab says the same while it waits.
        cold.locator(".jp-CloudTTY-shell-open").click()
        banner = page.locator('.jp-CloudTTY-terminal[data-shell-name="cold"] .jp-CloudTTY-banner')
        expect(banner).to_have_text(re.compile(r"^The shell is starting \(phase: \w+, "
                                               + re.escape(f"cold start: {why})…") + "$"))  # fmt: skip
        page.screenshot(path=output_dir / "pool-cold-starting.png")

        # Room for its pod: Ready, and the row still says it started cold, and why.
        control_plane.kubectl("patch", "resourcequota", "pods", "-n", namespace, "--type=merge",
                              "-p", json.dumps({"spec": {"hard": {"pods": "10"}}}))  # fmt: skip
        expect(cold.locator(".jp-CloudTTY-phase")).to_have_text("Ready", timeout=90000)
        note = cold.locator(".jp-CloudTTY-shell-start")
        expect(note).to_have_text("cold start")
        expect(note).to_have_attribute("title", f"Cold start: {why}")
        wait_for_text(page, "cold", r"[$#] $", timeout=30000)
        expect(banner).to_be_hidden()

        # New shell fits the pool: it starts in the pool's ready pod, and the row says so.
        watch_pods(control_plane, namespace, POOL_LABEL, lambda pods: bool(pool_ready(pods)))
        panel.get_by_role("button", name="New shell").click()
        warm = panel.locator('.jp-CloudTTY-shell:not([data-shell-name="cold"])')
        expect(warm).to_have_count(1)
        name = warm.get_attribute("data-shell-name")
        expect(warm.locator(".jp-CloudTTY-phase")).to_have_text("Ready", timeout=60000)
        shell = kubectl_json(control_plane, "get", "cloudshell", name, "-n", namespace)
        assert shell["status"]["start"] == "Pool", shell["status"]
        pod = shell["status"]["podName"]
        note = warm.locator(".jp-CloudTTY-shell-start")
        expect(note).to_have_text("from the pool")
        expect(note).to_have_attribute("title", f"From the pool: it started in {pod}, a ready pod of the pool")
        wait_for_text(page, name, r"[$#] $", timeout=30000)
        type_in_terminal(page, name, "echo $((6*7))")
        wait_for_text(page, name, "^42$")
        page.screenshot(path=output_dir / "pool-shells.png")
