"""A shell pod for tests: the real ttyd 1.7.7 (Debian's) run in the shell image's files.

What a kubelet does for a CloudShell's pod, in a process: the container's command runs in the
image's root filesystem (tests/harness/rootfs.py) with ``chroot``, as the image's user 1000, in a mount,
UTS and PID namespace of its own (``unshare``): ``/proc``, ``/dev``, ``/dev/pts``, a fresh ``/tmp``
and the pod's home (a folder of the test, so a test reads what the shell wrote) are mounted there
only, and go with the namespace (nothing to unmount, even after a crash); the hostname is the
pod's name. The namespace's PID 1 is a root shell that waits for ttyd: when either ends, every
process of the pod dies with it, as in a container, and a pod never outlives the test run that
started it (its parent-death signal, kept by a process that never changes its user). Each pod
gets its own address, 127.x.y.z (never 127.0.0.x, the tests' servers'), and ttyd listens there
on 7681 (the pod IP and container port: ``-i`` is added to ttyd's flags, the only change to the
command).

What it cannot do: images (every pod runs the one root filesystem), cgroups (no limits),
NetworkPolicy; root is only the root of the chroot's files. The root filesystem is shared by
the pods of a run: a shell that writes outside its home and ``/tmp`` writes there for all.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import itertools
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Mapping, Sequence

from tests.harness.rootfs import rootfs
from tests.harness.waiting import eventually

PORT = 7681  # the container port of the operator's Job
UID = 1000  # the image's user (USER 1000 in deploy/image/Dockerfile)
HOME = "/home/shell"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # the image's (Debian's) default
SHELL = ["bash", "--norc", "--noprofile"]


def _free_addresses() -> Iterator[str]:
    """Pod IPs: 127.1.1.1 and on (127.0.0.x is the tests' servers'), never twice in a run, and
    none whose port 7681 is taken (by a pod of another test run, say)."""
    for n in itertools.count(random.randrange(64516 * 250)):
        address = f"127.{1 + n // 64516 % 250}.{n // 254 % 254 + 1}.{n % 254 + 1}"
        with socket.socket() as probe:
            try:
                probe.bind((address, PORT))
            except OSError:
                continue
        yield address


_addresses = _free_addresses()

# Mounts the pod's filesystems in its own namespaces, then becomes the container's command.
_START = r"""
set -e
root=$1 home=$2 name=$3; shift 3
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount --bind "$home" "$root/home/shell"
hostname "$name"
# Not exec: this root shell stays the pod's PID 1, so the pod ends with it. ttyd cannot be PID 1
# here: chroot --userspec changes the user, which clears the parent-death signal that ties the
# pod to the test run (unshare --kill-child, PR_SET_PDEATHSIG).
chroot --userspec="$UID_GID" "$root" "$@"
"""


def die_with_parent() -> None:
    """A pod outlives no test run: SIGKILL when the process that started it ends (and so, with
    --kill-child, the whole pod)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def ttyd_command(
    argv: Sequence[str],
    *,
    writable: bool = True,
    base_path: str = "",
    credential: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    once: bool = False,
    url_arg: bool = False,
    port: int = PORT,
) -> list[str]:
    """ttyd's command line for ``argv``, with the flags the operator would render for these fields."""
    command = ["ttyd", "-p", str(port)]
    if writable:
        command.append("-W")
    if base_path:
        command += ["-b", base_path]
    if credential is not None:
        command += ["-c", credential]
    for key, value in (client_options or {}).items():
        command += ["-t", f"{key}={value}"]
    if once:
        command.append("-o")
    if url_arg:
        command.append("-a")
    return [*command, *argv]


def expand(value: str, env: Mapping[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion in a command or an env value (``$$`` is a ``$``)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, value)


def container_env(
    container: Mapping[str, Any],
    *,
    name: str,
    namespace: str,
    fields: Mapping[str, str] | None = None,
    lookup: Callable[[Mapping[str, Any]], str | None] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A container's env as the kubelet gives it: values expanded in order, the pod's fieldRefs.

    ``base`` is what comes first (the kubelet's own variables), ``fields`` more fieldRef paths
    than the pod's name and namespace. Secret and ConfigMap references are read by ``lookup``
    (a ``valueFrom``, to a value or None); without one (no API server here) such a variable is
    left out, and a test that needs one passes it in ``env``."""
    known = {"metadata.name": name, "metadata.namespace": namespace, **(fields or {})}
    env: dict[str, str] = dict(base or {})
    for var in container.get("env", ()):
        source = var.get("valueFrom", {})
        if "value" in var:
            env[var["name"]] = expand(var["value"], env)
        elif path := source.get("fieldRef", {}).get("fieldPath"):
            env[var["name"]] = known[path]
        elif lookup is not None and (value := lookup(source)) is not None:
            env[var["name"]] = value
    return env


def with_address(command: Sequence[str], address: str) -> list[str]:
    """``command`` with ``-i <address>`` right after its word ``ttyd`` (none: unchanged): the pod's
    ttyd listens on the pod's address only, as in a pod's own network namespace."""
    command = list(command)
    if "ttyd" not in command:
        return command
    at = command.index("ttyd") + 1
    return [*command[:at], "-i", address, *command[at:]]


class Pod:
    """``async with Pod(ttyd_command(["bash"]), home=tmp_path) as pod: pod.url`` (ws://127.0.x.y:7681/ws).

    ``command`` is the container's: ``ttyd ...``, or a ``sh -c '... ttyd ... &' ttyd ARGS``
    wrapper as the operator renders for a credential; ``-i <the pod's address>`` is put right
    after the word ``ttyd``.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        home: str | Path,
        env: Mapping[str, str] | None = None,
        name: str = "shell-pod",
        uid: int = UID,
        base_path: str = "",
    ):
        self.address_ip = next(_addresses)
        self.name = name
        self.home = Path(home)
        self.uid = uid
        self.base_path = base_path.rstrip("/")
        self.env = {"PATH": PATH, "HOME": HOME, "HOSTNAME": name, **(env or {})}
        self.command = self._with_address(list(command))
        self.process: subprocess.Popen | None = None
        self.port = PORT
        self._log: collections.deque[str] = collections.deque(maxlen=400)
        self._listening = threading.Event()
        self._reader: threading.Thread | None = None

    def _with_address(self, command: list[str]) -> list[str]:
        command.index("ttyd")  # a ValueError without it, as ever
        return with_address(command, self.address_ip)

    @property
    def address(self) -> str:
        """``ip:port``, as a ClusterIP accessUrl names the pod's terminal."""
        return f"{self.address_ip}:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://{self.address}{self.base_path}/ws"

    @property
    def log(self) -> str:
        """The end of ttyd's own log (stderr): what it served, and why it refused."""
        return "".join(self._log)

    def _read_log(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:  # drained always: a full pipe would stop ttyd
            self._log.append(line)
            if not self._listening.is_set() and (port := re.search(r"Listening on port: (\d+)", line)):
                self.port = int(port.group(1))
                self._listening.set()
        self._listening.set()  # it ended: whoever waits, wakes

    async def __aenter__(self) -> Pod:
        self.home.mkdir(parents=True, exist_ok=True)
        os.chown(self.home, self.uid, self.uid)  # the pod's user writes its home
        env_args = [f"{key}={value}" for key, value in self.env.items()]
        argv = [
            "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child",
            "sh", "-c", _START, "pod", str(rootfs()), str(self.home), self.name,
            "env", "-i", "-C", HOME, *env_args, *self.command,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env={"PATH": os.environ.get("PATH", PATH), "UID_GID": f"{self.uid}:{self.uid}"},
            preexec_fn=die_with_parent,
        )
        self._reader = threading.Thread(target=self._read_log, name=f"pod {self.name}", daemon=True)
        self._reader.start()
        await asyncio.get_running_loop().run_in_executor(None, self._listening.wait, 30)
        if self.process.poll() is not None or not self._listening.is_set():
            await self.__aexit__(None, None, None)
            raise RuntimeError(f"the pod's ttyd did not start: {shlex.join(self.command)}\n{self.log}")
        return self

    def ttyd_pid(self) -> int:
        """ttyd's process id (on this machine): the child of the pod's PID 1, unshare's child."""
        assert self.process is not None

        def child(pid: int) -> int:
            return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])

        return child(child(self.process.pid))

    def signal(self, sig: int) -> None:
        """Send ttyd a signal (SIGKILL: the pod's every process dies with it; SIGSTOP: it freezes)."""
        os.kill(self.ttyd_pid(), sig)

    def kill(self) -> None:
        """The container dies at once: ttyd is SIGKILLed, the socket just goes (no close frame),
        and the pod's every process with it."""
        self.signal(signal.SIGKILL)

    async def exited(self, timeout: float = 10) -> int:
        """Wait for the pod to end (ttyd exited); its exit code."""
        assert self.process is not None
        return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, self.process.wait), timeout)

    async def __aexit__(self, *exc: object) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()  # --kill-child: the pod's PID 1, and so all of the pod, frozen or not
        await asyncio.get_running_loop().run_in_executor(None, self.process.wait)
        if self._reader is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._reader.join, 10)


def ttyd_pod(argv: Sequence[str] = SHELL, *, home: str | Path, env: Mapping[str, str] | None = None,
             name: str = "shell-pod", **flags: Any) -> Pod:  # fmt: skip
    """A pod whose container is ``ttyd [flags] argv`` (``ttyd_command``'s flags)."""
    return Pod(ttyd_command(argv, **flags), home=home, env=env, name=name, base_path=flags.get("base_path", ""))


SOCKET = "ttyd.sock"  # a recorded shell's ttyd socket, here in the pod's home (its emptyDir, shared with the recorder)


@contextlib.asynccontextmanager
async def socket_pod(
    home: str | Path, argv: Sequence[str] = SHELL, *, env: Mapping[str, str] | None = None, name: str = "recorded-pod"
) -> AsyncIterator[Pod]:
    """A pod whose ttyd listens on ``<home>/ttyd.sock`` only, as a recorded shell's pod runs it (the
    recorder, operator/recorder.py, in front of it): the socket is a file of this machine, in ``home``."""
    command = ttyd_command(argv)
    at = command.index("ttyd") + 1
    command[at:at] = ["-i", f"{HOME}/{SOCKET}"]  # after the harness's own -i: ttyd takes the last
    pod = Pod(command, home=home, env=env, name=name)
    # ttyd says where it listens on a socket in words of its own: the socket's file is what is awaited.
    pod._listening.set()
    async with pod:

        async def listening() -> bool:
            return (pod.home / SOCKET).is_socket()

        await eventually(listening, timeout=30, what="ttyd's socket")
        yield pod


class RunningPod:
    """``with RunningPod(ttyd_pod(...)) as pod:`` a pod for synchronous code (Playwright's sync API).

    The pod is started and stopped on an event loop of a thread of its own, which lives as long
    as the pod: the parent-death signal of the pod's process is that thread's, not the caller's.
    """

    def __init__(self, pod: Pod):
        self.pod = pod
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"pod {pod.name} loop", daemon=True)

    def __enter__(self) -> Pod:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.pod.__aenter__(), self._loop).result(60)
        except BaseException:
            self._stop_loop()
            raise
        return self.pod

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.pod.__aexit__(None, None, None), self._loop).result(60)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
