"""Files in and out of a cluster shell, in a real JupyterLab and a real browser: a file dragged from the file
browser onto the shell's terminal tab lands in the pod with the same SHA-256, and `tsz` in the pod saves a
file into the Jupyter root, where the file browser shows it with the same SHA-256.

As tests/ui/test_cluster.py: the real control plane, the chart's operator, the Jupyter server holding
docs/administrators.md's Role and relaying through the API server (``connect_via = "apiserver"``), and a
pod of the tests' node running the real ttyd in the shell image's files (its bash, its trz/tsz, its user
1000). tests/ui/test_transfers.py does the same with a local shell.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from playwright.sync_api import Browser, expect

from tests.harness.lab import open_lab, open_panel, type_in_terminal, wait_for_text
from tests.harness.lab_pages import lab_on_cluster, own_page
from tests.harness.transfers_ui import drag_onto_terminal, open_file_browser, shell_digest, strip, tsz_into_jupyter

PROMPT = r"\S+@\S+:\S*[$#] "  # the image's, naming the pod: shell@cloudshell-files-x1y2z:~$
# The end of trz: its summary (where the file went: the shell's home, its working directory; then "- NAME"),
# then the prompt; for a tsz the server took, the server's own line.
SAVED_IN_HOME = r"^Saved 1 file/directory to /home/shell\n- {name}\n" + PROMPT
SAVED_IN_JUPYTER = r"^Saved {name} .*\n" + PROMPT


@pytest.mark.timeout(300)
def test_a_file_dragged_from_the_file_browser_reaches_a_cluster_shell_and_tsz_brings_one_back(
    browser: Browser, control_plane, node, namespace, tmp_path, output_dir
) -> None:
    log = output_dir / "test_transfers_on_cluster-jupyter-lab.log"
    with lab_on_cluster(control_plane, namespace, tmp_path, log) as (lab, _), own_page(browser) as page:
        payload = os.urandom(3_000_000)
        (lab.root / "payload.bin").write_bytes(payload)
        open_lab(page, lab)
        open_panel(page)
        panel = page.locator("#jp-CloudTTY-panel")
        expect(panel.locator(".jp-CloudTTY-backend")).to_have_text(f"Kubernetes · {namespace}")

        # A cluster shell, Ready, its terminal open: the image's user in its home.
        status, answer = lab.api("POST", "shells", {"name": "files"})
        assert status == 201, answer
        item = panel.locator('.jp-CloudTTY-shell[data-shell-name="files"]')
        expect(item.locator(".jp-CloudTTY-phase")).to_have_text("Ready", timeout=90000)
        item.locator(".jp-CloudTTY-shell-open").click()
        wait_for_text(page, "files", PROMPT + "$", timeout=30000)
        type_in_terminal(page, "files", 'echo "in $PWD as $(id -u)"')
        wait_for_text(page, "files", r"^in /home/shell as 1000$")

        # Drag the file from the file browser onto the terminal: the strip follows the upload through the
        # relay to its end, and the pod has the same bytes, the shell's user's, where the shell is.
        open_file_browser(page)
        drag_onto_terminal(page, "payload.bin", "files")
        expect(strip(page, "files")).to_have_attribute("data-state", "done", timeout=120000)
        expect(strip(page, "files")).to_contain_text("Uploaded payload.bin (3.0 MB) to files")
        wait_for_text(page, "files", SAVED_IN_HOME.format(name=r"payload\.bin"), timeout=30000)
        type_in_terminal(page, "files", "stat -c 'owner %u size %s' payload.bin")
        wait_for_text(page, "files", r"^owner 1000 size 3000000$")
        assert shell_digest(page, "files", "payload.bin") == hashlib.sha256(payload).hexdigest()
        page.screenshot(path=output_dir / "transfers-on-cluster-upload.png")

        # A file made in the pod, sent back with tsz: the server saves it into the Jupyter root.
        tsz_into_jupyter(page, lab, "files", SAVED_IN_JUPYTER)
        page.screenshot(path=output_dir / "transfers-on-cluster-download.png")
