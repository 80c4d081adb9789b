"""The extension's command line: every option is documented where users look."""

import subprocess
import sys
from dataclasses import MISSING, fields

import pytest

from jupyter_cloudtty.server.app import CloudTTY, login_shell
from jupyter_cloudtty.server.backends.selection import BackendSettings, choose_backend

OPTIONS = ["max_shells", "scrollback_bytes", "shell_command", "working_dir", "kill_timeout", "handshake_timeout"]


@pytest.mark.slow
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


def test_the_backend_settings_are_the_cloudtty_options_of_the_same_names_and_defaults():
    traits = CloudTTY.class_traits(config=True)
    for field in fields(BackendSettings):
        assert field.name in traits, f"BackendSettings.{field.name} is no c.CloudTTY option"
        if field.name == "owner":  # computed: $JUPYTERHUB_USER, else the user the server runs as
            continue
        default = field.default_factory() if field.default is MISSING else field.default
        trait_default = traits[field.name].default()
        assert (tuple(trait_default) if isinstance(trait_default, list) else trait_default) == default, field.name


def test_the_backend_is_chosen_from_settings_alone(tmp_path, monkeypatch):
    local = object()
    assert choose_backend(BackendSettings(backend="local"), lambda: local) == (local, "c.CloudTTY.backend is 'local'")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))  # and no in-cluster ServiceAccount here
    chosen = choose_backend(BackendSettings(kubeconfig=str(tmp_path / "none")), lambda: local)
    assert chosen == (local, "no cluster credentials found (in-cluster or kubeconfig)")
