"""A node of the tests' real control plane (tests/harness/controlplane.py): a kubelet of ours, in
the test process, on the official ``kubernetes`` client.

What it does, each part with the identity it has in a cluster:

- registers a Ready Node as ``system:node:<name>`` (group ``system:nodes``), so the Node authorizer
  and NodeRestriction hold it to its own Node and its own pods, as they hold a kubelet;
- binds pending pods to itself as ``system:kube-scheduler`` would (there is no scheduler);
- runs every container of each bound pod as processes in the shell image's root filesystem
  (tests/harness/rootfs.py), the way tests/harness/pods.py runs a shell pod: each container in mount,
  UTS and PID namespaces of its own (``unshare``; the pod's containers share no PID namespace, as
  without ``shareProcessNamespace``), ``chroot`` as the container's ``runAsUser`` (else the image's
  1000), tied to the test run by a parent-death signal. Each container's root is an overlay of the
  image's files and a tmpfs, so what it writes goes with the container, as with a container runtime;
  its ``/dev`` is the image's (its device nodes; the machine's ``/dev/pts``); ``/run``, ``/tmp`` and
  ``/dev/shm`` are fresh tmpfs; its hostname is the pod's name;
- runs native sidecars as a kubelet >= 1.29 does: the ``initContainers`` with ``restartPolicy:
  Always``, in order, each once the one before it has *started* (its startupProbe passed; with none,
  its process started), and the main containers once they all have (the pod's Initialized
  condition); a sidecar that exits is started again whatever the pod's restartPolicy; when every main
  container has ended for good, the sidecars get SIGTERM in reverse order (each once the one after it
  ended) and SIGKILL after the pod's grace period (at most 5 s, as below), and the pod's phase is its
  main containers' alone;
- gives each container its command and args (``$(VAR)`` expanded), its env (``valueFrom`` Secrets,
  ConfigMaps and fieldRefs read as the node; ``status.podIP`` and ``status.podIPs`` too: the pod's IP
  is chosen before any of its containers starts), and the pod's volumes at its mountPaths (``subPath`` and ``readOnly``
  too): secret, configMap, downwardAPI, projected (the ServiceAccount token from a TokenRequest made as
  the node, bound to the pod, with kube-root-ca.crt and the namespace, as the kubelet writes them at
  /var/run/secrets/kubernetes.io/serviceaccount), emptyDir (one folder of the pod, whichever of its
  containers mount it, so a UNIX socket one makes there the other reaches; it outlives a container
  restart) and persistentVolumeClaim: it reads the claim as the node (the Node authorizer allows a
  node the claims of its pods and their volumes), then its PersistentVolume once the claim is Bound
  (kube-controller-manager's persistentvolume-binder-controller binds a claim to a matching PV), and
  bind-mounts the PV's ``hostPath.path`` or ``local.path``, a folder of this machine;
- waits, as a kubelet does, for what a pod needs and lacks: a Secret or ConfigMap not there yet (one
  of a new namespace's kube-root-ca.crt, say), a claim not Bound. It tries again each second while
  the pod stays Pending, its containers waiting with the kubelet's words as the message: reason
  ContainerCreating for a volume ("MountVolume.SetUp failed ...", "error processing PVC ...", which a
  kubelet says in FailedMount Events), CreateContainerConfigError for a container's env;
- ``fsGroup``: the root folder of an emptyDir and of a ``local`` PV (unless read-only) gets the group
  and g+rwxs before the containers start (the kubelet does so to every file of such a volume, files
  g+rw; a hostPath volume it leaves as it is, and so does this one), and the containers' processes
  get ``fsGroup`` and ``supplementalGroups`` as supplementary groups, as a container runtime gives them;
- gives each run of a container an empty file of its own at its ``terminationMessagePath`` (default
  /dev/termination-log), writable by any user, and once the run ended puts the file's last 4096 bytes
  in ``state.terminated.message`` (``lastState`` once it runs again); with ``FallbackToLogsOnError``,
  an empty file and a non-zero exit code, the last 80 lines (at most 2048 bytes) of what it printed
  instead, as the kubelet;
- runs each container's startupProbe, then its readinessProbe (tcpSocket, httpGet) for real against the
  pod IP (a run failing its startupProbe ``failureThreshold`` times is stopped, SIGTERM then SIGKILL
  after the grace period, and started again as its restart policy says), and writes the pod's status
  honestly through pods/status: Pending, Running (podIP, startTime), ``containerStatuses`` and, for
  sidecars, ``initContainerStatuses`` (started, ready, state, lastState, restartCount), the
  Initialized condition, ContainersReady and Ready (True only while every main container and every
  sidecar is ready: its readinessProbe passed, or it has none and has started), then Succeeded or
  Failed with the exit codes; containers run again as the restartPolicy says, after a back-off
  (CrashLoopBackOff) of 1 s doubling to 10 s at most (a kubelet's starts at 10 s and doubles to 5 min);
- stops a pod being deleted as a kubelet does: SIGTERM to each main container's process (its
  command's, which a runtime would make the container's PID 1), then to the sidecars' once the main
  containers ended, SIGKILL to all of the pod's processes after its grace period
  (``deletionGracePeriodSeconds``, else ``terminationGracePeriodSeconds``, default 30) but never more
  than 5 s (tests need not wait 30 s); a container is not started again meanwhile; then its status is
  written terminal (Succeeded if every main container exited 0, else Failed, with the exit codes:
  128 + the signal when killed, as a container runtime reports it, and no ``signal`` field, which a
  kubelet never sets), and the pod removed (delete with gracePeriodSeconds=0, as the node).

Pod IPs: the API server refuses to proxy to loopback addresses (IsProxyableIP) and EndpointSlices
refuse them too, so each pod gets a 10.244.x.y address added to ``lo`` (``ip addr add``; this needs
root, as the tests have) and removed when the pod ends. There is no network namespace (no veth here):
every pod shares the machine's network, so a ``ttyd`` in a command gets ``-i <pod IP>`` (as pods.py
does) unless the command tells ttyd where to listen itself (``-i``/``--interface`` after a word
``ttyd``, or after ``ttyd`` in a ``sh -c`` script: a UNIX socket, say), and any other server in a pod
must be told to listen on its pod IP itself (``status.podIP``). A pod's containers share its IP, as
they would share its network namespace, but have no loopback of their own (``127.0.0.1`` is every
pod's). Pods reach the API server at 127.0.0.1 (``KUBERNETES_SERVICE_HOST``): there
is no kube-proxy to route the ``kubernetes`` Service's ClusterIP.

Of a securityContext it applies the user and groups, ``runAsNonRoot`` (checked, as the kubelet does)
and ``allowPrivilegeEscalation: false`` (no_new_privs); capabilities, seccomp and read-only roots are
not applied (Pod Security admission still judges them as written).

Images: every container runs the one root filesystem, whatever its ``image``, except that an image
of a registry under ``.invalid`` (RFC 6761: a name that never resolves) cannot be pulled: the
container waits with ErrImagePull, then ImagePullBackOff, as on a node that cannot reach the registry.

Logs: ``Kubelet.log(namespace, name)`` reads what the pod's first main container printed (every
run), ``Kubelet.log(namespace, name, container="recorder")`` another container's: no kubelet API is
served, so ``kubectl logs`` and ``exec`` through the API server fail.

What it cannot do: images (beyond the above, ``image`` is ignored), cgroups (no requests or limits),
NetworkPolicy, one network per pod, init containers that are not sidecars (such a pod stays Pending
with CreateContainerConfigError and the reason), restarts in a pod being deleted (a sidecar that exits
then is not started again), ephemeral containers, hostPath volumes in a pod's spec and PVs of other
kinds than hostPath and local (such a pod stays Pending, its containers waiting with the reason, as
with a kubelet's CreateContainerConfigError), exec and gRPC probes (never passed: a container with
such a readinessProbe is never ready; with such a startupProbe, never started, it is stopped and
started again), liveness probes (not run), postStart and preStop hooks, node heartbeats (no
node-lifecycle controller runs to miss them).
"""

from __future__ import annotations

import base64
import ctypes
import datetime
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import kubernetes.config
import urllib3
from kubernetes.client import ApiClient

from tests.harness.controlplane import ControlPlane, release
from tests.harness.pods import HOME, PATH, UID, container_env, die_with_parent, expand, with_address
from tests.harness.rootfs import rootfs

HOST_IP = "127.0.0.1"
T = TypeVar("T")
RETRY = 0.2  # seconds between a kubelet's retries of what the API server may allow in a moment
MISSING_RETRY = 1.0  # seconds between a kubelet's tries of what a pod lacks (an object, a Bound claim)
MAX_GRACE = 5  # seconds: a deleted pod's grace period, at most (the tests need not wait 30 s)
# The kubelet's limits (pkg/kubelet/container/runtime.go): of the termination message file, and of
# the end of the log that stands for it with FallbackToLogsOnError.
MESSAGE_BYTES, LOG_LINES, LOG_BYTES = 4096, 80, 2048
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_FIELDS = {  # a PersistentVolume's spec but its volume source
    "accessModes", "capacity", "claimRef", "mountOptions", "nodeAffinity", "persistentVolumeReclaimPolicy",
    "storageClassName", "volumeAttributesClassName", "volumeMode",
}  # fmt: skip


class KubeletError(RuntimeError):
    """What a pod asked for that this node cannot give it (the pod's status says it too)."""


class Missing(KubeletError):
    """What a pod needs that is not there yet: a kubelet tries again until it is (or the pod goes)."""


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the API, as one identity ----------------------------------------------------------------------


class Api:
    """JSON in and out over the official client's connection (its TLS and client certificate)."""

    def __init__(self, kubeconfig: Path):
        self.client: ApiClient = kubernetes.config.new_client_from_config(str(kubeconfig))
        self._watching = None  # the response a watch reads

    def _send(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
              content_type: str = "application/json"):  # fmt: skip
        method, url, headers, _body, _ = self.client.param_serialize(
            method, path, query_params=list((query or {}).items()),
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            auth_settings=["BearerToken"],
        )  # fmt: skip
        return self.client.call_api(method, url, headers, body)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, body, **kwargs)
        data = response.read()
        if not 200 <= response.status < 300:
            try:
                message = json.loads(data).get("message", "")
            except ValueError:
                message = data.decode(errors="replace")
            raise ApiError(response.status, message)
        return json.loads(data)

    def watch(self, path: str, query: Mapping[str, Any], stopping: threading.Event) -> Iterator[dict[str, Any]]:
        """Events of ``path`` for ever (until ``stopping``): all objects first as ADDED, then changes;
        after a 410 Gone, all again."""
        version = ""
        while not stopping.is_set():
            params = {**query, "watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": 300}
            if version:
                params["resourceVersion"] = version
            response = self._send("GET", path, query=params)
            if response.status != 200:
                raise ApiError(response.status, response.read().decode(errors="replace"))
            self._watching = response.response
            if stopping.is_set():  # stopped while it connected
                return
            try:
                for event in _lines(response.response):
                    if event["type"] == "ERROR":
                        version = "" if event["object"].get("code") == 410 else version
                        break
                    version = event["object"]["metadata"].get("resourceVersion", version)
                    if event["type"] != "BOOKMARK":
                        yield event
            except Exception:
                if not stopping.is_set():
                    raise
            finally:
                response.response.release_conn()

    def interrupt(self) -> None:
        """End a watch blocked in a read (from another thread)."""
        if (watching := self._watching) is not None:
            watching.shutdown()


def _lines(response) -> Iterator[dict[str, Any]]:
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=True):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)


# --- pod IPs -------------------------------------------------------------------------------------


def add_address() -> str:
    """A 10.244.x.y address on ``lo`` for a pod: ``ip addr add`` refuses one in use, by this run or another."""
    for n in itertools.count(random.randrange(254 * 254)):
        address = f"10.244.{n // 254 % 254 + 1}.{n % 254 + 1}"
        done = subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], capture_output=True, text=True)
        if done.returncode == 0:
            return address
        if not any(taken in done.stderr for taken in ("File exists", "already assigned")):  # iproute2's two wordings
            raise KubeletError(
                f"ip addr add {address}/32 dev lo: {done.stderr.strip()} (the tests' kubelet runs as root)"
            )
    raise AssertionError("unreachable")


def remove_address(address: str) -> None:
    subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], capture_output=True)


# --- a container's process ---------------------------------------------------------------------------

# Runs in the container's own mount, UTS and PID namespaces (unshare): builds its root in its folder,
# mounts its volumes, then becomes its command.
_START = r"""
set -e
lower=$1 dir=$2 name=$3; shift 3
mount -t tmpfs tmpfs "$dir/layer"
mkdir "$dir/layer/upper" "$dir/layer/work"
root=$dir/root
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/layer/upper,workdir=$dir/layer/work" "$root"
mount -t proc proc "$root/proc"
# The image's /dev (debootstrap's device nodes), not the machine's: what a container mounts there
# (its termination log) stays in its own layer. Its ptmx finds the ptys in the pts beside it.
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
hostname "$name"
while [ "$1" != -- ]; do
    source=$1 path=$2 mode=$3; shift 3
    # The image's symlinks (/var/run -> /run) resolve inside the image, never to the machine's.
    target=$root$(chroot "$root" realpath -m "$path")
    if [ -d "$source" ]; then mkdir -p "$target"; else mkdir -p "${target%/*}"; : >>"$target"; fi
    mount --bind "$source" "$target"
    if [ "$mode" = ro ]; then mount -o remount,bind,ro "$target"; fi
done
shift
# Not exec: this root shell stays the container's PID 1 and keeps the parent-death signal (pods.py says why).
chroot --userspec="$UID_GID" --groups="$GROUP_LIST" "$root" "$@"
"""


def registry_unreachable(image: str) -> str | None:
    """The registry host of ``image`` if it is under ``.invalid`` (never resolves), else None."""
    first, _, rest = image.partition("/")
    host = first.split(":")[0] if rest and ("." in first or ":" in first) else ""
    return host if host.endswith(".invalid") else None


def _home(uid: int) -> str:
    """The user's home in the image's /etc/passwd (what a container runtime sets $HOME to)."""
    for line in (rootfs() / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 5 and fields[2] == str(uid):
            return fields[5]
    return "/"


def _field(pod: Mapping[str, Any], path: str) -> str | None:
    """A downward-API fieldPath of ``pod`` (``metadata.labels['app']`` and the plain ones)."""
    if path.startswith(("metadata.labels[", "metadata.annotations[")):
        which, key = path[len("metadata.") :].split("[", 1)
        return pod["metadata"].get(which, {}).get(key.strip("]'\""))
    value: Any = pod
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return None if value is None else str(value)


class Container:
    """One container of a pod on this node: its spec, its current run and what the pod's status says
    of it. Its folder holds what each run printed (``run-N.log``) and its termination message file
    (``termination-N``), and the mount points of its root (``layer``, ``root``)."""

    def __init__(self, spec: dict[str, Any], folder: Path, *, sidecar: bool, waiting: str):
        self.spec = spec
        self.name: str = spec["name"]
        self.sidecar = sidecar  # an init container with restartPolicy Always
        self.dir = folder
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self.started_at = ""  # when its last run started; "" until one did
        self.state: dict[str, Any] = {"waiting": {"reason": waiting}}
        self.last: dict[str, Any] = {}
        self.started = False  # this run passed its startup probe (with none: it runs)
        self.ready = False
        self.up = threading.Event()  # started once: the pod's next container may start
        self.stopping = threading.Event()  # stopped for good: no run after this one
        self.over = threading.Event()  # its runs are over
        self.thread: threading.Thread | None = None

    def ended(self) -> bool:
        """Its runs are over, or never began."""
        return self.thread is None or self.over.is_set()

    def id(self, pod_uid: str) -> str:
        return f"tests-kubelet://{pod_uid}/{self.name}/{self.restarts}"

    def status(self, pod_uid: str) -> dict[str, Any]:
        """Its entry in the pod's containerStatuses (or initContainerStatuses)."""
        nulls = {"waiting": None, "running": None, "terminated": None}
        return {
            "name": self.name, "image": self.spec.get("image", ""), "imageID": "",
            "containerID": self.id(pod_uid) if self.started_at else None,
            "ready": self.ready, "started": self.started, "restartCount": self.restarts,
            # The one state it is in: the others null, or the merge would keep them.
            "state": {**nulls, **self.state}, "lastState": {**nulls, **self.last},
        }  # fmt: skip

    def log_file(self) -> Path:
        """What this run prints."""
        return self.dir / f"run-{self.restarts}.log"

    def message_file(self) -> Path:
        """This run's termination message file (bind-mounted at the container's terminationMessagePath)."""
        return self.dir / f"termination-{self.restarts}"

    def logs(self) -> list[Path]:
        """What each run printed, the first run's first."""
        return sorted(self.dir.glob("run-*.log"), key=lambda path: int(path.stem.split("-")[1]))

    def signal(self, number: int) -> None:
        """Signal the container's process: the child of its PID 1 (the root shell of _START, which
        stays PID 1), the process a container runtime would signal as the container's PID 1."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        for init in _children(process.pid):
            for pid in _children(init):
                try:
                    os.kill(pid, number)
                except ProcessLookupError:  # ended meanwhile
                    pass

    def kill(self) -> None:
        """Kill its run now (its namespace's PID 1, and so every process of the container)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:  # ended
        return []


# ttyd's options that take a value (ttyd --help, 1.7.7): what follows one is its value, not a command.
_TTYD_VALUED = {
    "-p", "-i", "-U", "-c", "-H", "-u", "-g", "-s", "-w", "-t", "-T", "-m", "-I", "-b", "-P", "-f", "-C", "-K", "-A",
    "-d", "--port", "--interface", "--socket-owner", "--credential", "--auth-header", "--uid", "--gid", "--signal",
    "--cwd", "--client-option", "--terminal-type", "--max-clients", "--index", "--base-path", "--ping-interval",
    "--srv-buf-size", "--ssl-cert", "--ssl-key", "--ssl-ca", "--debug",
}  # fmt: skip


def _says_interface(words: list[str]) -> bool:
    """Whether ttyd's options ``words`` (up to its command) say where to listen (``-i``, ``--interface``)."""
    at = 0
    while at < len(words) and words[at].startswith("-"):
        word = words[at]
        if word == "--interface" or word.startswith(("--interface=", "-i")):
            return True
        at += 2 if word in _TTYD_VALUED else 1
    return False


def listening(argv: list[str], address: str) -> list[str]:
    """``argv`` with its ttyd told to listen on the pod's address (``-i``, as pods.py's
    ``with_address``) unless ttyd is told where to listen already: by ``-i``/``--interface`` among
    the words after a word ``ttyd``, or after ``ttyd`` in a script of the command (``sh -c``)."""
    if "ttyd" not in argv:
        return argv
    told = _says_interface(argv[argv.index("ttyd") + 1 :]) or any(
        _says_interface(re.split(r"[;&|\n]", line, maxsplit=1)[0].split())
        for word in argv if "\n" in word or " " in word
        for line in re.split(r"\bttyd\b", word)[1:]
    )  # fmt: skip
    return argv if told else with_address(argv, address)


class PodWorker:
    """One pod on this node: its volumes and address, its containers' runs, their probes and the
    pod's status."""

    def __init__(self, kubelet: Kubelet, pod: dict[str, Any]):
        self.kubelet = kubelet
        self.pod = pod
        meta = pod["metadata"]
        self.name, self.namespace, self.uid = meta["name"], meta["namespace"], meta["uid"]
        self.spec = pod["spec"]
        self.dir = kubelet.workdir / "pods" / self.uid
        inits = self.spec.get("initContainers", [])
        waiting = "PodInitializing" if inits else "ContainerCreating"  # the kubelet's words for a container not run yet
        self.sidecars = [
            Container(c, self.dir / "containers" / c["name"], sidecar=True, waiting=waiting) for c in inits
        ]
        self.mains = [Container(c, self.dir / "containers" / c["name"], sidecar=False, waiting=waiting)
                      for c in self.spec["containers"]]  # fmt: skip
        self.initialized = not inits  # every sidecar started: the main containers may start
        self.address: str | None = None
        self.deleting = threading.Event()
        self.grace_ends: float | None = None  # when a deleted pod's grace period ends (time.monotonic())
        self.done = False
        self.conditions: dict[str, tuple[str, str, str]] = {}  # type: (status, reason, since)
        self._reporting = threading.Lock()  # one status at a time, each with the containers as they are then
        self._changed = threading.Condition()  # a container started or ended, or the pod is being deleted
        self.thread = threading.Thread(target=self._run, name=f"kubelet {self.namespace}/{self.name}", daemon=True)

    @property
    def containers(self) -> list[Container]:
        return [*self.sidecars, *self.mains]

    def container(self, name: str | None = None) -> Container:
        """The container ``name``, by default the first main container (as ``kubectl logs`` takes it)."""
        if name is None:
            return self.mains[0]
        for container in self.containers:
            if container.name == name:
                return container
        names = ", ".join(c.name for c in self.containers)
        raise ValueError(f"container {name} is not valid for pod {self.namespace}/{self.name} (it has {names})")

    def running(self) -> bool:
        """Whether a process of one of its containers still runs."""
        return any(c.process is not None and c.process.poll() is None for c in self.containers)

    # --- status ---

    def _condition(self, kind: str, status: bool, reason: str = "") -> dict[str, Any]:
        value = "True" if status else "False"
        old = self.conditions.get(kind)
        since = old[2] if old and old[0] == value else now()
        self.conditions[kind] = (value, reason, since)
        condition = {"type": kind, "status": value, "lastTransitionTime": since, "lastProbeTime": None}
        condition["reason"] = reason or None
        return condition

    def _phase(self) -> str:
        """The pod's phase, from its main containers alone (sidecars have no say), as the kubelet's:
        Pending while one has not run yet, Succeeded or Failed once each ended for good, else Running."""
        if any(not c.started_at for c in self.mains):
            return "Pending"
        if all("terminated" in c.state for c in self.mains):  # a container to run again waits (CrashLoopBackOff)
            return "Succeeded" if all(c.state["terminated"]["exitCode"] == 0 for c in self.mains) else "Failed"
        return "Running"

    def _report(self, phase: str | None = None, *, message: str | None = None, reason: str | None = None) -> None:
        """Write the pod's status as its containers have it now (a strategic merge patch of
        pods/status, as the node); ``phase`` when it is not what they say (a deleted pod's end)."""
        with self._reporting:
            phase = phase or self._phase()
            initialized = self.initialized
            ready = all(c.ready for c in self.containers)  # every main container's and sidecar's probe
            why = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
            body: dict[str, Any] = {
                "phase": phase,
                "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}],
                "startTime": self.kubelet.start_times.setdefault(self.uid, now()),
                "conditions": [
                    self._condition("PodReadyToStartContainers", self.address is not None),
                    self._condition("Initialized", initialized, "" if initialized else "ContainersNotInitialized"),
                    self._condition("ContainersReady", ready, "" if ready else why),
                    self._condition("Ready", ready, "" if ready else why),
                ],
                "containerStatuses": [c.status(self.uid) for c in self.mains],
                "message": message, "reason": reason,
            }  # fmt: skip
            if self.sidecars:
                body["initContainerStatuses"] = [c.status(self.uid) for c in self.sidecars]
            if self.address:
                body.update(podIP=self.address, podIPs=[{"ip": self.address}])
            self._send(body)
        self._notify()

    def _send(self, body: dict[str, Any]) -> None:
        # As a kubelet's status manager: an API server that does not answer for a while (a restart of
        # it) is asked again, for as long as a restart takes; a pod gone meanwhile has nothing to hear.
        for attempt in range(int(60 / RETRY)):
            try:
                self.kubelet.node_api.request(
                    "PATCH", f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status", {"status": body},
                    content_type="application/strategic-merge-patch+json",
                )  # fmt: skip
                return
            except ApiError as e:
                if e.status == 404:
                    return
                if e.status < 500 or attempt == int(60 / RETRY) - 1:
                    raise
            except (urllib3.exceptions.HTTPError, OSError):
                if attempt == int(60 / RETRY) - 1:
                    raise
            if self.kubelet.stopping.wait(RETRY):
                return

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _until(self, done: Callable[[], bool], *, deletion: bool = True) -> bool:
        """Wait until ``done()`` (or, with ``deletion``, the pod is being deleted): whether done."""
        with self._changed:
            self._changed.wait_for(lambda: done() or (deletion and (self.deleting.is_set()
                                                                    or self.kubelet.stopping.is_set())))  # fmt: skip
        return done()

    # --- what the containers get ---

    def _as_node(self, path: str) -> dict[str, Any] | None:
        """GET as the node: the Node authorizer allows it once it has seen the pod bound here (a
        moment after the binding), so a 403 is retried a while; None when it does not exist."""
        for _ in range(int(20 / RETRY)):
            try:
                return self.kubelet.node_api.request("GET", path)
            except ApiError as e:
                if e.status == 404:
                    return None
                if e.status != 403:
                    raise
            if self.deleting.wait(RETRY):
                break
        raise KubeletError(f"GET {path}: forbidden to system:node:{self.kubelet.name}")

    def _object(self, kind: str, name: str, optional: bool = False) -> dict[str, str]:
        """A Secret's or ConfigMap's data, decoded."""
        found = self._as_node(f"/api/v1/namespaces/{self.namespace}/{kind.lower()}s/{quote(name)}")
        if found is None:
            if optional:
                return {}
            raise Missing(f'{kind.lower()} "{name}" not found')
        if kind == "secret":
            return {k: base64.b64decode(v).decode(errors="replace") for k, v in found.get("data", {}).items()}
        binary = {k: base64.b64decode(v).decode(errors="replace") for k, v in found.get("binaryData", {}).items()}
        return {**found.get("data", {}), **binary}

    def _lookup(self, source: Mapping[str, Any]) -> str | None:
        for kind, key in (("secret", "secretKeyRef"), ("configMap", "configMapKeyRef")):
            if ref := source.get(key):
                data = self._object(kind, ref["name"], ref.get("optional", False))
                if ref["key"] not in data and not ref.get("optional"):
                    raise Missing(f"couldn't find key {ref['key']} in {kind} {self.namespace}/{ref['name']}")
                return data.get(ref["key"])
        return None

    def _token(self, source: Mapping[str, Any]) -> str:
        """A TokenRequest as the node, bound to this pod (NodeRestriction allows no other)."""
        account = self.spec.get("serviceAccountName") or "default"
        spec: dict[str, Any] = {
            "expirationSeconds": source.get("expirationSeconds", 3607),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid},
        }
        if audience := source.get("audience"):
            spec["audiences"] = [audience]
        path = f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token"
        for _ in range(int(20 / RETRY)):
            try:
                request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
                answer = self.kubelet.node_api.request("POST", path, request)
                return answer["status"]["token"]
            except ApiError as e:
                if e.status != 403 or self.deleting.wait(RETRY):
                    raise KubeletError(f"a token for {account}: {e}") from e
        raise KubeletError(f"a token for {account}: forbidden to the node")

    def _files(self, volume: Mapping[str, Any]) -> dict[str, tuple[str, int]] | None:
        """What a volume holds: {path: (content, mode)}; None for an emptyDir."""
        mode = volume.get("defaultMode", 0o644)

        def items(data: Mapping[str, str], chosen: list | None) -> dict[str, tuple[str, int]]:
            if chosen is None:
                return {key: (value, mode) for key, value in data.items()}
            return {i["path"]: (data[i["key"]], i.get("mode", mode)) for i in chosen if i["key"] in data}

        if "emptyDir" in volume:
            return None
        if source := volume.get("secret"):
            data = self._object("secret", source["secretName"], source.get("optional", False))
            return items(data, source.get("items"))
        if source := volume.get("configMap"):
            return items(self._object("configMap", source["name"], source.get("optional", False)), source.get("items"))
        if source := volume.get("downwardAPI"):
            return self._downward(source.get("items", []), mode)
        if source := volume.get("projected"):
            mode = source.get("defaultMode", 0o644)
            files: dict[str, tuple[str, int]] = {}
            for part in source.get("sources", []):
                if token := part.get("serviceAccountToken"):
                    files[token["path"]] = (self._token(token), mode)
                elif kind := next((k for k in ("configMap", "secret") if k in part), None):
                    ref = part[kind]
                    files.update(items(self._object(kind, ref["name"], ref.get("optional", False)), ref.get("items")))
                elif ref := part.get("downwardAPI"):
                    files.update(self._downward(ref.get("items", []), mode))
                else:
                    raise KubeletError(f"projected source {sorted(part)} is not supported by the tests' kubelet")
            return files
        kinds = sorted(set(volume) - {"name"})
        raise KubeletError(f"volume {volume['name']}: {kinds} is not supported by the tests' kubelet")

    def _downward(self, items: list[dict[str, Any]], mode: int) -> dict[str, tuple[str, int]]:
        files = {}
        for item in items:
            if path := item.get("fieldRef", {}).get("fieldPath"):
                files[item["path"]] = (_field(self.pod, path) or "", item.get("mode", mode))
        return files

    def _retrying(self, step: Callable[[], T], reason: str, containers: list[Container], stop: threading.Event) -> T:
        """``step()``, tried again while what it needs is missing, as a kubelet tries again (until
        ``stop``): meanwhile ``containers`` wait with ``reason`` and what is missing as the message."""
        reported = ""
        while True:
            try:
                return step()
            except Missing as e:
                if str(e) != reported:
                    for container in containers:
                        container.state = {"waiting": {"reason": reason, "message": str(e)}}
                    self._report()
                    reported = str(e)
                if stop.wait(MISSING_RETRY):
                    raise

    def _volumes(self) -> dict[str, tuple[Path, bool]]:
        """Each volume: {name: (folder, read-only)}, each once what it needs is there; one folder
        for the pod, whichever of its containers mount it."""
        return {
            v["name"]: self._retrying(partial(self._volume, v), "ContainerCreating", self.containers, self.deleting)
            for v in self.spec.get("volumes", [])
        }

    def _volume(self, volume: Mapping[str, Any]) -> tuple[Path, bool]:
        """A volume written under the pod's folder, or a claim's PersistentVolume's own folder."""
        if source := volume.get("persistentVolumeClaim"):
            folder, read_only, owned = self._claim(source)
            if owned:
                self._own(folder)
            return folder, read_only
        folder = self.dir / "volumes" / volume["name"]
        try:
            files = self._files(volume)
        except Missing as e:  # the words of the kubelet's FailedMount events
            raise Missing(f'MountVolume.SetUp failed for volume "{volume["name"]}" : {e}') from e
        folder.mkdir(parents=True, exist_ok=True)
        if files is None:
            folder.chmod(0o777)  # an emptyDir: anyone in the pod writes it, as the kubelet makes it
            self._own(folder)
        else:
            for path, (content, mode) in files.items():
                file = folder / path
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(content)
                file.chmod(mode)
        return folder, files is not None  # Secrets and the like are read-only

    def _own(self, folder: Path) -> None:
        """fsGroup on a volume's root folder: its group, and g+rwxs (u+rwx too) as the kubelet's
        SetVolumeOwnership sets them, so what the pod's users write there stays the group's."""
        group = self.spec.get("securityContext", {}).get("fsGroup")
        if group is not None:
            os.chown(folder, -1, group)
            folder.chmod(folder.stat().st_mode & 0o7777 | 0o2770)

    def _claim(self, source: Mapping[str, Any]) -> tuple[Path, bool, bool]:
        """A persistentVolumeClaim's volume: (its PV's folder here, read-only, whether fsGroup applies
        to it); Missing while the claim is not Bound, as the kubelet's volume manager has it."""
        name = source["claimName"]
        claim = self._as_node(f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims/{quote(name)}")
        if claim is None:
            problem = f'failed to fetch PVC from API server: persistentvolumeclaims "{name}" not found'
        elif claim["metadata"].get("deletionTimestamp") and PVC_PROTECTION not in claim["metadata"].get(
            "finalizers", []
        ):
            problem = "PVC is being deleted"
        elif claim.get("status", {}).get("phase") != "Bound":
            problem = "PVC is not bound"
        elif not claim["spec"].get("volumeName"):
            problem = "PVC has empty pvc.Spec.VolumeName"
        else:
            problem = ""
        if problem:  # the words of the kubelet's volume manager
            raise Missing(f"error processing PVC {self.namespace}/{name}: {problem}")
        volume_name = claim["spec"]["volumeName"]
        volume = self._as_node(f"/api/v1/persistentvolumes/{quote(volume_name)}")
        if volume is None or volume["spec"].get("claimRef", {}).get("uid") != claim["metadata"]["uid"]:
            raise Missing(f"PersistentVolume {volume_name} is not bound to the claim {name}")
        read_only = source.get("readOnly", False)
        if local := volume["spec"].get("local"):
            folder = Path(local["path"])
            if not folder.exists():
                raise KubeletError(f'PersistentVolume {volume_name}: path "{folder}" does not exist')
            return folder, read_only, not read_only  # the local plugin applies fsGroup when writable
        if host := volume["spec"].get("hostPath"):
            return self._host_path(host), read_only, False  # the hostPath plugin never applies fsGroup
        kinds = sorted(set(volume["spec"]) - PV_FIELDS)
        raise KubeletError(f"PersistentVolume {volume_name}: {kinds} is not supported by the tests' kubelet "
                           "(hostPath and local are)")  # fmt: skip

    @staticmethod
    def _host_path(source: Mapping[str, Any]) -> Path:
        """A hostPath's path, made or checked as its ``type`` says; with no type, a missing folder is
        made (a container runtime makes a missing bind-mount source)."""
        path, kind = Path(source["path"]), source.get("type", "")
        if kind in ("", "DirectoryOrCreate") and not path.exists():
            path.mkdir(mode=0o755, parents=True)
        elif kind == "FileOrCreate" and not path.exists():
            path.touch(0o644)
        elif kind == "Directory" and not path.is_dir():
            raise KubeletError(f"hostPath type check failed: {path} is not a directory")
        elif kind == "File" and not path.is_file():
            raise KubeletError(f"hostPath type check failed: {path} is not a file")
        return path

    def _user(self, container: Container) -> tuple[int, int, list[int]]:
        """The container's user, group and groups (its group, the pod's supplementalGroups and fsGroup)."""
        pod = self.spec.get("securityContext", {})
        own = container.spec.get("securityContext", {})
        uid = own.get("runAsUser", pod.get("runAsUser", UID))
        gid = own.get("runAsGroup", pod.get("runAsGroup", UID if uid == UID else 0))
        if uid == 0 and own.get("runAsNonRoot", pod.get("runAsNonRoot")):
            raise KubeletError("container has runAsNonRoot and image will run as root")
        fs_group = [pod["fsGroup"]] if "fsGroup" in pod else []
        groups = list(dict.fromkeys([gid, *pod.get("supplementalGroups", []), *fs_group]))
        return uid, gid, groups

    def _argv(self, container: Container, env: Mapping[str, str]) -> list[str]:
        command = container.spec.get("command")
        args = container.spec.get("args")
        if command is None:  # the image's CMD (deploy/image/Dockerfile), unless args replace it
            argv = args if args is not None else ["ttyd", "-W", "-p", "7681", "bash"]
        else:
            argv = [*command, *(args or [])]
        return listening([expand(word, env) for word in argv], self.address or "")

    def _environment(self, container: Container, uid: int) -> dict[str, str]:
        port = str(self.kubelet.control_plane.port)
        base = {
            "PATH": PATH, "HOSTNAME": self.name,
            # No kube-proxy: the API server's own address, not the `kubernetes` Service's ClusterIP.
            "KUBERNETES_SERVICE_HOST": HOST_IP, "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port, "KUBERNETES_PORT": f"tcp://{HOST_IP}:{port}",
        }  # fmt: skip
        for source in container.spec.get("envFrom", []):
            prefix = source.get("prefix", "")
            for kind in ("secretRef", "configMapRef"):
                if ref := source.get(kind):
                    data = self._object(kind[:-3], ref["name"], ref.get("optional", False))
                    base.update({prefix + k: v for k, v in data.items()})
        fields = {  # the pod IP is chosen before any container starts
            "spec.nodeName": self.kubelet.name, "spec.serviceAccountName": self.spec.get("serviceAccountName", ""),
            "metadata.uid": self.uid, "status.podIP": self.address or "", "status.hostIP": HOST_IP,
            "status.podIPs": self.address or "",  # one family here: a dual-stack pod's would be "v4,v6"
        }  # fmt: skip
        for var in container.spec.get("env", []):
            if (path := var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")) and path not in fields:
                fields[path] = _field(self.pod, path) or ""
        env = container_env(container.spec, name=self.name, namespace=self.namespace, fields=fields,
                            lookup=self._lookup, base=base)  # fmt: skip
        env.setdefault("HOME", _home(uid))
        return env

    # --- a run of a container ---

    def _start(self, container: Container, volumes: Mapping[str, tuple[Path, bool]]) -> subprocess.Popen:
        spec = container.spec
        uid, gid, groups = self._user(container)
        env = self._environment(container, uid)
        mounts: list[str] = []
        for mount in spec.get("volumeMounts", []):
            if mount["name"] not in volumes:
                raise KubeletError(f"volumeMount {mount['name']}: no such volume")
            folder, read_only = volumes[mount["name"]]
            source = folder
            if subpath := mount.get("subPath"):
                source = folder / subpath
                if not source.exists():  # the kubelet makes it, with the mode of the volume's root
                    source.mkdir(parents=True)
                    source.chmod(folder.stat().st_mode & 0o7777)
            mounts += [str(source), mount["mountPath"], "ro" if read_only or mount.get("readOnly") else "rw"]
        for name in ("layer", "root"):
            (container.dir / name).mkdir(parents=True, exist_ok=True)
        if path := spec.get("terminationMessagePath", "/dev/termination-log"):
            message = container.message_file()
            message.touch()
            message.chmod(0o666)  # as the kubelet makes it: whatever user the container runs as writes it
            mounts += [str(message), path, "rw"]
        workdir = spec.get("workingDir") or HOME  # the image's WORKDIR
        argv = [
            "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child",
            "sh", "-c", _START, "container", str(rootfs()), str(container.dir), self.name, *mounts, "--",
            "env", "-i", "-C", workdir, *(f"{k}={v}" for k, v in env.items()), *self._argv(container, env),
        ]  # fmt: skip
        escalation = spec.get("securityContext", {}).get("allowPrivilegeEscalation", True)

        def prepare() -> None:
            die_with_parent()  # of this thread, which waits for the process
            if not escalation:  # no setuid binary makes anyone more than the container's user
                PR_SET_NO_NEW_PRIVS = 38
                ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

        log = open(container.log_file(), "wb")
        try:
            return subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", PATH), "UID_GID": f"{uid}:{gid}",
                     "GROUP_LIST": ",".join(map(str, groups))},
                preexec_fn=prepare,
            )  # fmt: skip
        finally:
            log.close()

    def _terminated(self, container: Container, code: int) -> dict[str, Any]:
        """The state of its run, ended with ``code``: with its termination message, as the kubelet
        reads it (the file's end; with FallbackToLogsOnError, an empty file and a failure, the log's)."""
        message = b""
        if container.spec.get("terminationMessagePath", "/dev/termination-log"):
            with open(container.message_file(), "rb") as file:
                file.seek(max(0, os.fstat(file.fileno()).st_size - MESSAGE_BYTES))
                message = file.read()
        if not message and code != 0 and container.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            printed = container.log_file().read_bytes()
            message = b"".join(printed.splitlines(keepends=True)[-LOG_LINES:])[-LOG_BYTES:]
        terminated = {
            "exitCode": code, "reason": "Completed" if code == 0 else "Error",
            "startedAt": container.started_at, "finishedAt": now(), "containerID": container.id(self.uid),
        }  # fmt: skip
        if message:
            terminated["message"] = message.decode(errors="replace")
        return terminated

    def _probe(self, container: Container, probe: Mapping[str, Any]) -> bool:
        """A probe (tcpSocket, httpGet), once, against the pod IP: whether it passed."""
        timeout = probe.get("timeoutSeconds", 1)

        def port(value: int | str) -> int:
            if isinstance(value, int) or value.isdigit():
                return int(value)
            return next(p["containerPort"] for p in container.spec.get("ports", []) if p.get("name") == value)

        if tcp := probe.get("tcpSocket"):
            try:
                with socket.create_connection((tcp.get("host") or self.address, port(tcp["port"])), timeout):
                    return True
            except OSError:
                return False
        if http := probe.get("httpGet"):
            scheme = http.get("scheme", "HTTP").lower()
            url = f"{scheme}://{http.get('host') or self.address}:{port(http['port'])}{http.get('path', '/')}"
            headers = {h["name"]: h["value"] for h in http.get("httpHeaders", [])}
            context = ssl._create_unverified_context()  # as the kubelet: it checks no pod's certificate
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "kube-probe/tests", **headers})
                with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
                    return 200 <= answer.status < 400
            except urllib.error.HTTPError as e:
                return 200 <= e.code < 400
            except OSError:
                return False
        return False  # exec and grpc probes are not run here: never passed, honestly

    def _watch_run(self, container: Container) -> int:
        """Probe the run while it lasts (waiting on its exit between probes): its startup probe until
        it passes, then its readiness probe; its exit code. A run that fails its startup probe
        ``failureThreshold`` times in a row is stopped as the kubelet stops it (SIGTERM, SIGKILL after
        the pod's grace period), to start again as its restart policy says."""
        process = container.process
        assert process is not None
        startup, readiness = container.spec.get("startupProbe"), container.spec.get("readinessProbe")
        began = time.monotonic()

        def first(probe: Mapping[str, Any] | None) -> float | None:  # its initialDelaySeconds, from the start
            return None if not probe else max(0.0, began + probe.get("initialDelaySeconds", 0) - time.monotonic())

        timeout = first(readiness if container.started else startup)
        failures = streak = 0
        while True:
            try:
                code = process.wait(timeout)
                return 128 - code if code < 0 else code
            except subprocess.TimeoutExpired:
                pass
            if not container.started:
                assert startup is not None
                if self._probe(container, startup):
                    container.started, container.ready = True, not readiness
                    container.up.set()
                    self._report()
                    timeout = first(readiness)
                    continue
                failures += 1
                timeout = startup.get("periodSeconds", 10)
                if failures == startup.get("failureThreshold", 3):
                    container.signal(signal.SIGTERM)
                    killer = threading.Timer(_grace(self.pod), process.kill)
                    killer.daemon = True
                    killer.start()
                    timeout = None  # probed no more: it ends
                continue
            assert readiness is not None
            success, failure = readiness.get("successThreshold", 1), readiness.get("failureThreshold", 3)
            result = self._probe(container, readiness)
            streak = streak + 1 if result == (not container.ready) else 0
            if (not container.ready and streak >= success) or (container.ready and streak >= failure):
                container.ready, streak = not container.ready, 0
                self._report()
            timeout = readiness.get("periodSeconds", 10)

    def _keep(self, container: Container, volumes: Mapping[str, tuple[Path, bool]]) -> None:
        """Run the container until it is stopped for good (a thread of its own)."""
        try:
            self._runs(container, volumes)
        except Exception as e:  # the container waits, saying why; the pod and the node go on
            container.kill()
            if not self.kubelet.stopping.is_set():
                reason = "CreateContainerConfigError" if isinstance(e, KubeletError) else "TestsKubeletError"
                container.state = {"waiting": {"reason": reason, "message": str(e)}}
                container.started = container.ready = False
                try:
                    self._report()
                except Exception:
                    pass
                if not isinstance(e, KubeletError):  # the pod's own fault is its status's, not the node's
                    self.kubelet.errors.append(f"{self.namespace}/{self.name} {container.name}: {e!r}")
                container.stopping.wait()  # as a kubelet would, until the pod goes, but not trying again
        finally:
            container.over.set()
            self._notify()

    def _runs(self, container: Container, volumes: Mapping[str, tuple[Path, bool]]) -> None:
        """Its runs: one after another as its restart policy says (a sidecar's: Always), with a back-off
        between them, until one ends with none to follow or it is stopped."""
        image = container.spec.get("image", "")
        if host := registry_unreachable(image):
            self._pull_fails(container, image, host)
            return
        policy = "Always" if container.sidecar else self.spec.get("restartPolicy", "Always")
        while True:
            start = partial(self._start, container, volumes)
            container.process = self._retrying(start, "CreateContainerConfigError", [container], container.stopping)
            container.started_at = now()
            if container.stopping.is_set():  # stopped while it started: no grace for what never ran
                container.kill()
            container.state = {"running": {"startedAt": container.started_at}}
            container.started = not container.spec.get("startupProbe")
            container.ready = container.started and not container.spec.get("readinessProbe")
            if container.started:
                container.up.set()
            self._report()
            code = self._watch_run(container)
            ended = {"terminated": self._terminated(container, code)}
            container.started = container.ready = False
            again = policy == "Always" or (policy == "OnFailure" and code != 0)
            if container.stopping.is_set() or self.kubelet.stopping.is_set() or not again:
                container.state = ended
                if not self.kubelet.stopping.is_set():
                    self._report()
                return
            backoff = min(10, 2**container.restarts)  # CrashLoopBackOff, shortened: 1 s, 2 s, 4 s... 10 s
            before, container.last = container.last, ended
            container.restarts += 1
            container.state = {"waiting": {"reason": "CrashLoopBackOff", "message": (
                f"back-off {backoff}s restarting failed container={container.name} "
                f"pod={self.name}_{self.namespace}({self.uid})")}}  # fmt: skip
            self._report()
            if container.stopping.wait(backoff):  # stopped between runs: it ends as its last run did
                container.state, container.last = ended, before
                self._report()
                return
            if self.kubelet.stopping.is_set():
                return

    def _pull_fails(self, container: Container, image: str, host: str) -> None:
        """What a kubelet reports of an image it cannot pull, until the container is stopped:
        ErrImagePull, then ImagePullBackOff between its retries (the container waits)."""
        failure = f'failed to pull and unpack image "{image}": dial tcp: lookup {host}: no such host'
        container.state = {"waiting": {"reason": "ErrImagePull", "message": failure}}
        self._report()
        if not container.stopping.wait(1):
            container.state = {
                "waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
            }
            self._report()
            container.stopping.wait()

    # --- the pod's life ---

    def _live(self) -> None:
        """Its volumes and address; its sidecars started in order, each once the one before has
        started; its main containers then, until each ended for good (or the pod is deleted); then its
        sidecars stopped; its status written terminal."""
        if plain := [c["name"] for c in self.spec.get("initContainers", []) if c.get("restartPolicy") != "Always"]:
            raise KubeletError(f"init containers {', '.join(plain)}: not run by the tests' kubelet "
                               "(sidecars, with restartPolicy Always, are)")  # fmt: skip
        self._report()
        volumes = self._volumes()
        waiting = "PodInitializing" if self.sidecars else "ContainerCreating"
        for container in self.containers:  # what they waited for is there now
            container.state = {"waiting": {"reason": waiting}}
        self.address = add_address()  # before any container starts: its env may have status.podIP
        for container in self.sidecars:
            if not self._begin(container, volumes) or not self._until(container.up.is_set):
                break
        else:
            self.initialized = True
            for container in self.mains:
                self._begin(container, volumes)
        self._until(lambda: all(c.ended() for c in self.mains), deletion=False)
        self._stop_sidecars()
        if not self.kubelet.stopping.is_set():
            phase = self._phase()
            self._report(phase if phase in ("Succeeded", "Failed") else "Failed")  # deleted before its end

    def _begin(self, container: Container, volumes: Mapping[str, tuple[Path, bool]]) -> bool:
        """Start the container's runs, unless the pod is being deleted: whether it did."""
        if self.deleting.is_set():
            return False
        container.thread = threading.Thread(
            target=self._keep, args=(container, volumes), daemon=True,
            name=f"kubelet {self.namespace}/{self.name} {container.name}",
        )  # fmt: skip
        container.thread.start()
        return True

    def _stop_sidecars(self) -> None:
        """Once the main containers ended: SIGTERM to each sidecar in reverse order, each once the one
        after it ended; SIGKILL to those left after the pod's grace period (a deleted pod's own kill
        comes at the end of its grace)."""
        killer = threading.Timer(_grace(self.pod), lambda: [c.kill() for c in self.sidecars])
        killer.daemon = True
        if not self.deleting.is_set():
            killer.start()
        for container in reversed(self.sidecars):
            container.stopping.set()
            container.signal(signal.SIGTERM)
            self._until(container.ended, deletion=False)
        killer.cancel()

    def _run(self) -> None:
        try:
            self._live()
        except Exception as e:  # the pod says what went wrong; the node goes on
            for container in self.containers:  # what had started (none, unless the fault is this kubelet's)
                container.stopping.set()
                container.kill()
            if not self.kubelet.stopping.is_set():
                reason = "CreateContainerConfigError" if isinstance(e, KubeletError) else "TestsKubeletError"
                for container in self.containers:
                    if not container.started_at:
                        container.state = {"waiting": {"reason": reason, "message": str(e)}}
                try:
                    self._report("Failed" if self.deleting.is_set() else "Pending", message=str(e))
                except Exception:
                    pass
                if not isinstance(e, KubeletError):  # the pod's own fault is its status's, not the node's
                    self.kubelet.errors.append(f"{self.namespace}/{self.name}: {e!r}")
        finally:
            for container in self.containers:
                if container.thread is not None:
                    container.thread.join(30)
            if self.address:
                remove_address(self.address)
            with self.kubelet._lock:  # a deletion seen now is either seen here or sees `done`
                self.done = True
                deleted = self.deleting.is_set()
            if deleted and not self.kubelet.stopping.is_set():
                self.kubelet.remove(self.namespace, self.name, self.uid)

    def terminate(self, grace: float) -> None:
        """Stop the pod as a kubelet stops a deleted one: SIGTERM to its main containers now, to its
        sidecars once those ended (_live), and every process of the pod killed ``grace`` seconds
        later (sooner if asked again with less)."""
        ends = time.monotonic() + grace
        if self.grace_ends is not None and ends >= self.grace_ends:
            return  # being stopped, as soon or sooner
        if self.grace_ends is None:
            self.deleting.set()
            for container in self.mains:
                container.stopping.set()
                container.signal(signal.SIGTERM)
            self._notify()
        self.grace_ends = ends
        timer = threading.Timer(grace, self.kill)
        timer.daemon = True
        timer.start()

    def kill(self) -> None:
        """Kill every container of the pod now (each one's PID 1, and so all its processes)."""
        self.deleting.set()
        for container in self.containers:
            container.stopping.set()
            container.kill()
        self._notify()


# --- the node ------------------------------------------------------------------------------------


def _grace(pod: Mapping[str, Any]) -> float:
    """A deleted pod's grace period: the deletion's, else the pod's own (default 30 s); at most MAX_GRACE."""
    grace = pod["metadata"].get("deletionGracePeriodSeconds")
    if grace is None:
        grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    return min(grace, MAX_GRACE)


class Kubelet:
    """``with Kubelet(control_plane, workdir) as node:`` a Ready Node running the cluster's pods."""

    def __init__(self, control_plane: ControlPlane, workdir: Path, name: str = "node-1"):
        self.control_plane = control_plane
        self.workdir = Path(workdir)
        self.name = name
        self.pods: dict[str, PodWorker] = {}
        self.start_times: dict[str, str] = {}
        self.removed: set[str] = set()
        self.errors: list[str] = []  # what went wrong in the node itself (a pod's own fault is in its status)
        self.interruptions: list[str] = []  # watches that failed and were made again
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._removing = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._apis: list[Api] = []

    def start(self) -> Kubelet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        node = self.control_plane.kubeconfig(f"node-{self.name}", user=f"system:node:{self.name}",
                                             groups="system:nodes")  # fmt: skip
        scheduler = self.control_plane.kubeconfig("scheduler", user="system:kube-scheduler")
        self.node_api = Api(node)
        self._register()
        for target, kubeconfig in ((self._schedule, scheduler), (self._sync, node)):
            api = Api(kubeconfig)
            self._apis.append(api)
            thread = threading.Thread(target=self._loop, args=(target, api), name=f"kubelet {target.__name__}",
                                      daemon=True)  # fmt: skip
            thread.start()
            self._threads.append(thread)
        return self

    def _register(self) -> None:
        labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
        try:
            self.node_api.request("POST", "/api/v1/nodes", {
                "apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name, "labels": labels},
            })  # fmt: skip
        except ApiError as e:
            if e.status != 409:  # registered before (a kubelet restarted): its status is written again
                raise
        resources = {"cpu": str(os.cpu_count() or 1), "memory": "8Gi", "pods": "250"}
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "the tests' kubelet",
                 "lastHeartbeatTime": now(), "lastTransitionTime": now()}  # fmt: skip
        self.node_api.request("PATCH", f"/api/v1/nodes/{self.name}/status", {"status": {
            "conditions": [ready], "addresses": [{"type": "InternalIP", "address": HOST_IP}],
            "capacity": resources, "allocatable": resources,
            "nodeInfo": {"kubeletVersion": release(), "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "tests-kubelet://chroot",
                         "kernelVersion": os.uname().release, "osImage": "the shell image's root filesystem",
                         "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        }}, content_type="application/strategic-merge-patch+json")  # fmt: skip

    def _loop(self, target: Callable[[Api], None], api: Api) -> None:
        while not self.stopping.is_set():
            try:
                target(api)
            except Exception as e:
                if self.stopping.is_set():
                    return
                self.interruptions.append(f"{target.__name__}: {e!r}")
                self.stopping.wait(1)  # the API server restarting, say: watch again

    def _schedule(self, api: Api) -> None:
        """Bind every pending pod to this node, as system:kube-scheduler (the only scheduler here)."""
        query = {"fieldSelector": "spec.nodeName=,status.phase!=Succeeded,status.phase!=Failed"}
        for event in api.watch("/api/v1/pods", query, self.stopping):
            pod = event["object"]
            meta, spec = pod["metadata"], pod["spec"]
            if event["type"] == "DELETED" or meta.get("deletionTimestamp") or spec.get("schedulingGates"):
                continue
            binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": meta["uid"]},
                       "target": {"apiVersion": "v1", "kind": "Node", "name": self.name}}  # fmt: skip
            try:
                api.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", binding)
            except ApiError as e:
                if e.status not in (404, 409):  # gone, or bound already
                    raise

    def _sync(self, api: Api) -> None:
        """Run the pods bound here; kill and remove those being deleted."""
        for event in api.watch("/api/v1/pods", {"fieldSelector": f"spec.nodeName={self.name}"}, self.stopping):
            pod = event["object"]
            meta = pod["metadata"]
            uid = meta["uid"]
            with self._lock:
                worker = self.pods.get(uid)
                if event["type"] == "DELETED":  # forced (grace 0), or removed by us
                    if worker is not None:
                        worker.terminate(_grace(pod))
                    continue
                if meta.get("deletionTimestamp"):
                    if worker is not None:
                        worker.terminate(_grace(pod))
                        if worker.done:
                            self.remove(meta["namespace"], meta["name"], uid)
                    else:
                        self.remove(meta["namespace"], meta["name"], uid)
                    continue
                if worker is None and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                    worker = self.pods[uid] = PodWorker(self, pod)
                    worker.thread.start()

    def remove(self, namespace: str, name: str, uid: str) -> None:
        """Delete a stopped pod for good (grace 0, this very pod only), once."""
        with self._removing:
            if uid in self.removed:
                return
            self.removed.add(uid)
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            self.node_api.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", options)
        except ApiError as e:
            if e.status not in (404, 409):
                self.errors.append(f"delete {namespace}/{name}: {e}")

    def log(self, namespace: str, name: str, container: str | None = None) -> str:
        """What a container of the pod wrote (stdout and stderr, every run), by default its first main
        container's, as ``kubectl logs [-c CONTAINER]`` would show it (no kubelet API is served here)."""
        with self._lock:
            workers = [w for w in self.pods.values() if (w.namespace, w.name) == (namespace, name)]
        return "".join(path.read_text(errors="replace") for w in workers for path in w.container(container).logs())

    def stop(self) -> None:
        """Every pod's processes killed and its address removed; the watches ended."""
        self.stopping.set()
        for api in self._apis:
            api.interrupt()
        with self._lock:
            workers = list(self.pods.values())
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.thread.join(30)
        for thread in self._threads:
            thread.join(10)
        for api in [*self._apis, getattr(self, "node_api", None)]:
            if api is not None:
                api.client.close()
        for worker in workers:
            if worker.thread.is_alive() or worker.running():
                self.errors.append(f"{worker.namespace}/{worker.name}: still running after the node stopped")
            shutil.rmtree(worker.dir, ignore_errors=True)
        left = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
        self.errors += [f"{w.address} still on lo" for w in workers if w.address and f"inet {w.address}/" in left]

    def __enter__(self) -> Kubelet:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
