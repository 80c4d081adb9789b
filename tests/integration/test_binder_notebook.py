"""binder/README.ipynb runs top to bottom against a real server, as a Binder user would run it."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.harness.servers import JupyterProcess

pytestmark = pytest.mark.slow  # a notebook run in a real kernel

NOTEBOOK = Path(__file__).parents[2] / "binder" / "README.ipynb"


def text(cell) -> str:
    """What a code cell showed: its streams and its plain-text results."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


async def test_the_binder_notebook_runs(tmp_path, monkeypatch):
    async with JupyterProcess("jupyterlab", tmp_path) as lab:
        # On Binder the server starts the kernel; here nbclient does, so tell the magics which
        # server is theirs (their documented override) rather than let them search.
        monkeypatch.setenv("CLOUDTTY_SERVER_URL", f"http://127.0.0.1:{lab.port}/")
        monkeypatch.setenv("CLOUDTTY_SERVER_TOKEN", lab.token)
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        await NotebookClient(notebook, kernel_name="python3", timeout=60).async_execute()
        shown = [text(cell) for cell in notebook.cells if cell.cell_type == "code"]
        info, new, listed, widget, widget_typed, typed, kubectl, removed = shown
        assert widget.startswith("ShellTerminal('from-notebook'): its terminal shows in JupyterLab 4")
        assert widget_typed == "'42'"
        assert "local" in info
        assert "created shell from-notebook" in new
        assert "from-notebook" in listed and "Ready" in listed
        assert typed == "42"
        assert "Client Version" in kubectl
        assert "deleted shell from-notebook" in removed and "from-notebook" not in removed.split("\n", 1)[1]
        assert await lab.stop() == 0
