"""The extension's command line: every option is documented where users look."""

import subprocess
import sys

from jupyter_cloudtty.server.app import CloudTTY, login_shell

OPTIONS = ["max_shells", "scrollback_bytes", "shell_command", "working_dir", "kill_timeout", "handshake_timeout"]


def test_help_all_documents_every_option():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_cloudtty", "--help-all"], capture_output=True, text=True, check=True
    ).stdout
    for option in OPTIONS:
        assert f"--CloudTTY.{option}=" in out, option
        assert CloudTTY.class_traits()[option].help, option


def test_the_default_shell_is_the_users_login_shell(monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/bash")
    # Under pytest stdout is not a terminal, as under a spawner: the profile is sourced.
    assert login_shell() == ["/bin/bash", "-l"]
