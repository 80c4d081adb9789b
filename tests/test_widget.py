"""The pure parts of the terminal widget (jupyter_cloudtty.widget): the module it asks the browser for, the
spec ShellTerminal.new sends, and which closes end the kernel's connection for good."""

from __future__ import annotations

import json
import re
from pathlib import Path

from jupyter_cloudtty.kernel.widget import MODULE_NAME, MODULE_VERSION, ShellTerminal, shell_spec
from jupyter_cloudtty.ttyd.protocol import close_is_final

LABEXTENSION = Path(__file__).parents[1] / "labextension"


def test_the_widget_asks_for_the_module_our_labextension_registers():
    package = json.loads((LABEXTENSION / "package.json").read_text())
    assert MODULE_NAME == package["name"]
    assert MODULE_VERSION == f"^{package['version']}"
    registration = (LABEXTENSION / "src" / "notebook.ts").read_text()
    assert re.search(r"MODULE_NAME = '([^']+)'", registration)[1] == MODULE_NAME
    assert re.search(r"MODULE_VERSION = '([^']+)'", registration)[1] == package["version"]
    source = (LABEXTENSION / "src" / "widget.ts").read_text()
    traits = ShellTerminal.class_own_traits()
    assert traits["_model_name"].default_value == "ShellTerminalModel"
    assert traits["_view_name"].default_value == "ShellTerminalView"
    assert "ShellTerminalModel" in source and "ShellTerminalView" in source


def test_the_spec_of_a_new_shell():
    assert shell_spec() == {}
    assert shell_spec("kubectl get pods -w", 3600, True) == {
        "commandAction": "kubectl get pods -w",
        "ttlSecondsAfterStarted": 3600,
        "once": True,
    }
    assert shell_spec(ttl=60, spec={"env": [{"name": "A", "value": "1"}], "once": False}) == {
        "env": [{"name": "A", "value": "1"}],
        "once": False,
        "ttlSecondsAfterStarted": 60,
    }


def test_which_closes_end_the_kernels_connection_and_which_it_resumes_from():
    assert all(close_is_final(code) for code in (1000, 4000, 4001, 4002, 4003))
    assert not any(close_is_final(code) for code in (None, 1001, 1006, 1011, 4004, 4005))
