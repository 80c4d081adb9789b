"""Pure rendering: a CloudShell and the operator's settings -> the Kubernetes objects it needs.

No I/O here (kubespawner's objects.py is the model): every function takes dicts and
settings and returns dicts, so each field and mode is tested without a cluster. The
reconciler applies what these return. A shell's spec is checked once, where it enters the
operator (``validated``); everything here renders from a validated spec.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import shlex
from importlib.resources import files
from typing import Any, Iterable

from jupyter_cloudtty.cloudshell import API_VERSION, GROUP, KIND
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.names import (
    HOME_LABEL,
    OWNER_LABEL,
    POOL_POD_LABEL,
    RECORD_ANNOTATION,
    TOKEN_KEY,
    TTYD_PORT,
    home_claim_name,
    labels,
    object_name,
    route_path,
    secret_name,
    shell_name,
    ttyd_base_path,
)
from jupyter_cloudtty.cloudshell.spec import DEFAULT_EXPOSURE, TTL_FIELDS, redacted, ttl_seconds, validate_spec
from jupyter_cloudtty.ttyd.protocol import client_option_value

from .settings import Settings

CONTAINER = "web-tty"
KUBECONFIG_DIR = "/etc/cloudshell/kubeconfig"
DEFAULT_INGRESS = "cloudshell-ingress"
DEFAULT_VIRTUAL_SERVICE = "cloudshell-virtualservice"  # lowercase: CloudTTY's default was not a valid name
TTYD_FLAGS = {"TTYD_PING_INTERVAL": "--ping-interval", "TTYD_SERVER_BUFFER_SIZE": "--srv-buf-size"}
SUPERVISOR = files(__package__).joinpath("supervisor.sh").read_text()
IDLE_EXIT_CODE = 75  # the idle rule ended the shell (supervisor.sh)
# A recorded shell's pod (recorder.py): its sidecar, ttyd's socket between the two, the claim's mount.
RECORDER = "recorder"
TTYD_SOCKET_DIR = "/run/ttyd"
TTYD_SOCKET = f"{TTYD_SOCKET_DIR}/ttyd.sock"
RECORDINGS_DIR = "/recordings"
RECORDER_READY_PATH = "/-/ready"  # recorder.READY_PATH (this module does without websockets)
NOT_RECORDED_EXIT = 73  # recorder.NOT_RECORDED_EXIT: its folder cannot be written
# What the recorder's container runs on the image's python3 (recorder_command): our modules it needs,
# in import order, each made a module of that name before the recorder runs as __main__.
RECORDER_SOURCES = {
    "jupyter_cloudtty.cloudshell.recording": files("jupyter_cloudtty.cloudshell").joinpath("recording.py").read_text(),
    "__main__": files(__package__).joinpath("recorder.py").read_text(),
}
RECORDER_LAUNCHER = """\
import json, sys, types
sys.path.insert(0, "/usr/local/lib/cloudshell-python")  # the image's wheels (websockets)
sources = json.loads(sys.argv[1])
main = sources.pop("__main__")
for name, source in sources.items():
    parts = name.split(".")
    for i in range(1, len(parts)):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    module = sys.modules[name] = types.ModuleType(name)
    exec(compile(source, name.replace(".", "/") + ".py", "exec"), module.__dict__)
sys.argv = ["recorder", *sys.argv[2:]]
exec(compile(main, "recorder.py", "exec"), {"__name__": "__main__"})
"""
HOME_LAST_USED = "jupyter-cloudtty.io/last-used"  # on a home claim: when a shell last started with it
SPEC_ANNOTATION = "cloudshell.cloudtty.io/spec"  # on the Job: held_spec of what it runs
TTYD_CREDENTIAL = "TTYD_CREDENTIAL"
TTYD_TOKEN = "TTYD_TOKEN"  # the shell's token, from its Secret, on its way to ttyd's -b (never the user's)
# Pod Security "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/):
# every shell pod's, under the admin's jobTemplate (which may change them: their choice).
POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def validated(shell: dict[str, Any]) -> dict[str, Any]:
    """``shell`` with its spec validated and normalised (``null`` fields dropped), or InvalidShell naming the field.

    The operator's one check of a spec: a CloudShell may come from kubectl as well as from our server.
    """
    return {**shell, "spec": validate_spec(shell.get("spec", {}))}


def owner_reference(shell: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": shell_name(shell),
        "uid": shell["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(shell: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """Metadata of an object that belongs to one shell (garbage-collected with it)."""
    return {
        "name": name or object_name(shell),
        "namespace": shell["metadata"]["namespace"],
        "labels": labels(shell),
        "ownerReferences": [owner_reference(shell)],
    }


# --- paths and URLs -------------------------------------------------------------------------


def access_url(
    spec: dict[str, Any],
    path: str,
    *,
    cluster_ip: str | None = None,
    node_address: str | None = None,
    node_port: int | None = None,
    host: str | None = None,
    https: bool = False,
) -> str | None:
    """Where the terminal page is, by exposure mode; None while the mode's facts are unknown."""
    mode = spec.get("exposureMode", DEFAULT_EXPOSURE)
    if mode == "ClusterIP":
        url = f"{cluster_ip}:{TTYD_PORT}" if cluster_ip and cluster_ip != "None" else None
    elif mode == "NodePort":
        url = f"{node_address}:{node_port}" if node_address and node_port else None
    elif mode in ("Ingress", "GatewayAPI"):
        url = (f"{'https' if https else 'http'}://{host}" if host else "") + f"{path}/"
    else:  # VirtualService: the gateway's address is not ours to know
        url = f"{path}/"
    ttl = ttl_seconds(spec)
    if url and ttl:
        url += f"?ttl={ttl}"
    return url


def node_address(nodes: list[dict[str, Any]]) -> str | None:
    """A Ready node's ExternalIP, else a Ready node's InternalIP (no control-plane labels needed)."""

    def ready(node: dict[str, Any]) -> bool:
        conditions = node.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    addresses = [a for node in nodes if ready(node) for a in node.get("status", {}).get("addresses", [])]
    for kind in ("ExternalIP", "InternalIP"):
        for address in addresses:
            if address.get("type") == kind:
                return address["address"]
    return None


# --- the Job ----------------------------------------------------------------------------------


def ttyd_command(shell: dict[str, Any], idle: int = 0, listen: tuple[str, ...] = ()) -> list[str]:
    """The container's command: ``sh -c`` reading the shell's token, then ttyd and its flags, then
    ``sh -c <commandAction>``, ttyd run by the supervisor (its exit status, the ``idle`` rule).

    ttyd serves under ``names.ttyd_base_path``: the route path in path-routed modes, then the
    token, so a client without it gets 404. The token (and a TTYD_CREDENTIAL) reaches ttyd from
    the environment at run time, so it is never in the pod's spec (which anyone who may read pods
    can see), and is unset before ttyd starts, so the shell ttyd runs does not see it either.
    ``listen``: ttyd's flags for where it listens, if not on its port (a recorded shell's socket).
    """
    script, args = ttyd_invocation(shell, idle, listen=listen)
    return ["sh", "-c", script, "ttyd", *args]


def ttyd_invocation(
    shell: dict[str, Any], idle: int, values: dict[str, str] | None = None, listen: tuple[str, ...] = ()
) -> tuple[str, list[str]]:
    """(the ``sh -c`` script, its arguments) of ``ttyd_command``. A flag set by an env variable
    (TTYD_PING_INTERVAL...) is ``$(NAME)``, which the kubelet expands, or with ``values`` (a pool
    pod's assignment: no kubelet expands it then) that variable's value."""
    spec = shell["spec"]
    args = ["-W", *(listen or ("-p", str(TTYD_PORT)))]
    if spec.get("once"):
        args.append("-o")
    if spec.get("urlArg"):
        args.append("-a")
    for key, value in spec.get("ttydClientOptions", {}).items():
        args += ["-t", f"{key}={client_option(value)}"]
    env = {var["name"] for var in spec.get("env", ())}
    for name, flag in TTYD_FLAGS.items():
        if name in env:
            args += [flag, f"$({name})" if values is None else values[name]]
    command = spec.get("commandAction", "bash")
    if listen:
        # On the shared socket, reached through its group (the pod's fsGroup: the emptyDir's, setgid)
        # by the recorder, whatever user each runs as: ttyd makes it with umask 007, and the shell
        # gets the usual 022 back.
        args += ["sh", "-c", 'umask 022; exec sh -c "$0"', command]
    else:
        args += ["sh", "-c", command]
    # Read each, hide it from the shell ttyd will start, then hand it to ttyd; no token, no ttyd
    # (`:?` exits): ttyd must never serve without one.
    unwrap = f't="${{{TTYD_TOKEN}:?}}"; unset {TTYD_TOKEN}; '
    credential = ""
    if TTYD_CREDENTIAL in env:
        unwrap += f'c="${TTYD_CREDENTIAL}"; unset {TTYD_CREDENTIAL}; '
        credential = ' -c "$c"'
    base = shlex.quote(ttyd_base_path(shell, "") + "/") + '"$t"'  # ttyd_base_path(shell, <the token>)
    # ttyd as a child of the supervisor (supervisor.sh: its exit status, the idle rule), which stays
    # the container's process.
    umask = "umask 007; " if listen else ""
    unwrap += f'{umask}ttyd -b {base}{credential} "$@" & p=$!; n={idle}\n{SUPERVISOR}'
    return unwrap, args


def idle_seconds(spec: dict[str, Any], settings: Settings) -> int:
    """The shell's idle timeout: its spec's, else the operator's default; 0: none."""
    idle = spec.get("idleTimeoutSeconds")
    return settings.idle_timeout_seconds if idle is None else idle


def held_spec(spec: dict[str, Any], settings: Settings) -> dict[str, str]:
    """What of the spec a running pod already holds (all but the TTL, the only field that can change
    while it runs), field by field as digests (an env value is a secret: never written out), as the
    Job records it: a later spec whose fields differ was not applied."""
    held = {key: value for key, value in spec.items() if key not in TTL_FIELDS}
    held.setdefault("image", default_image(settings))  # written back into the spec after the Job
    return {
        key: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]
        for key, value in sorted(held.items())
    }


def changed_fields(shell: dict[str, Any], job: dict[str, Any] | None, settings: Settings) -> list[str]:
    """The spec fields that changed since the Job was made (they are not applied to a running pod)."""
    recorded = ((job or {}).get("metadata", {}).get("annotations") or {}).get(SPEC_ANNOTATION)
    try:
        was = json.loads(recorded) if recorded else None
    except ValueError:
        was = None
    if not isinstance(was, dict):
        return []  # a Job from before the record, or not ours to judge
    now = held_spec(shell.get("spec", {}), settings)
    return sorted(key for key in set(was) | set(now) if was.get(key) != now.get(key))


def effective_ttl(spec: dict[str, Any], settings: Settings) -> int | None:
    """The TTL the shell gets: its spec's, at most the policy's longest (a running shell asking for
    more keeps running, up to that)."""
    ttl, longest = ttl_seconds(spec), settings.policy.max_ttl_seconds
    return min(ttl, longest) if ttl and longest else ttl


def client_option(value: str) -> str:
    """A ``ttydClientOptions`` value as ``ttyd -t key=<this>`` must have it for the browser to get
    the value parsed as JSON when it is JSON, else the string itself (as a local shell's does:
    protocol.client_option_value).

    ttyd 1.7.7 keeps a value only up to its first ``=`` and reads that with json-c, which takes a
    JSON prefix (``123abc`` is 123, ``1.2em`` 1.2), ``True`` for true, ``01`` for 1, ``0x10`` for 0,
    and sends ``NaN`` or ``1e999`` on as NaN and Infinity, which no browser's JSON.parse reads. So
    the value goes as JSON text: a string quoted, each ``=`` as ``\\u003d``.
    """
    try:
        text = json.dumps(client_option_value(value), ensure_ascii=False)
    except RecursionError:  # nested deeper than this stack allows: the string, as json-c would take it
        text = json.dumps(value, ensure_ascii=False)
    return text.replace("=", "\\u003d")


def kubeconfig_source(spec: dict[str, Any], settings: Settings) -> tuple[dict[str, Any] | None, str | None]:
    """(volume source of the user's kubeconfig or None, a note on an ignored field or None)."""
    key = [{"key": settings.kubeconfig_key, "path": "config"}]
    if "secretRef" in spec:
        return {"secret": {"secretName": spec["secretRef"]["name"], "items": key}}, None
    if "configmapName" in spec:
        if settings.allow_secret_store_kubeconfig:
            return None, "configmapName is ignored: the AllowSecretStoreKubeconfig gate requires secretRef"
        return {"configMap": {"name": spec["configmapName"], "items": key}}, None
    return None, None


def run_as_root(spec: dict[str, Any]) -> bool:
    """The spec asks for root (``root``, or UID 0 however written)."""
    user = spec.get("runAsUser")
    return user is not None and (user == "root" or int(user) == 0)


def security_context(spec: dict[str, Any]) -> dict[str, Any]:
    """The container's user, from the spec (else the image's); root only if the spec asks for it
    (the policy allows that only with ``policy.allowRoot``)."""
    user = spec.get("runAsUser")
    if user is None:
        return {}
    if run_as_root(spec):
        return {"runAsUser": 0, "runAsNonRoot": False}
    return {"runAsUser": int(user)}


def _from_secret(shell: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name(shell), "key": key}}}


def env_key(name: str) -> str:
    """The key of the shell's Secret holding the value of its env variable ``name``."""
    return f"env.{name}"


def pod_env() -> list[dict[str, Any]]:
    """What every shell's container has before its own: the pod's facts and a prompt."""
    return [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "CONTAINER", "value": CONTAINER},
        {"name": "PS1", "value": "\\u@$(POD_NAME):\\w\\$ "},
    ]


def container_env(shell: dict[str, Any], kubeconfig: bool) -> list[dict[str, Any]]:
    """The shell's environment: pod facts and a prompt, then the user's (which win by name), then
    the token for ttyd (which nothing overrides).

    The user's values come from the shell's Secret (``secret``): a pod spec, which any ``view``
    account reads, shows only where they are.
    """
    env = pod_env()
    if kubeconfig:
        env.append({"name": "KUBECONFIG", "value": f"{KUBECONFIG_DIR}/config"})
    user = [_from_secret(shell, var["name"], env_key(var["name"])) if "value" in var else var
            for var in shell["spec"].get("env", []) if var["name"] != TTYD_TOKEN]  # fmt: skip
    overridden = {var["name"] for var in user}
    token = _from_secret(shell, TTYD_TOKEN, TOKEN_KEY)
    return [var for var in env if var["name"] not in overridden] + user + [token]


def default_image(settings: Settings) -> str:
    """The image of a shell that names none: the jobTemplate's web-tty container's, else ``settings.image``."""
    containers = settings.job_template.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return _named(containers, CONTAINER).get("image") or settings.image


def job(shell: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The Job whose one pod runs ttyd (``shell`` validated)."""
    spec = shell.get("spec", {})
    source, _note = kubeconfig_source(spec, settings)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.get("image") or default_image(settings),
        "command": ttyd_command(shell, idle_seconds(spec, settings)),
        "ports": [{"name": "ttyd", "containerPort": TTYD_PORT, "protocol": "TCP"}],
        "env": container_env(shell, kubeconfig=source is not None),
        **probes(),
    }
    recorder = recorded(shell, settings)
    if recorder:
        # ttyd on a socket only the recorder reaches; the port, and its probes, are the recorder's.
        container["command"] = ttyd_command(shell, idle_seconds(spec, settings), listen=("-i", TTYD_SOCKET))
        for key in ("ports", "readinessProbe", "livenessProbe"):
            del container[key]
    if security := security_context(spec):
        container["securityContext"] = security
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    mounts, volumes = [], []
    if source is not None:
        mounts.append({"name": "kubeconfig", "mountPath": KUBECONFIG_DIR, "readOnly": True})
        volumes.append({"name": "kubeconfig", **source})
        pod["automountServiceAccountToken"] = False  # never the namespace's default token
    else:
        pod["serviceAccountName"] = object_name(shell)
    if (claim := home_claim_of(shell, settings)) is not None:
        mounts.append({"name": "home", "mountPath": settings.home.mount_path})
        volumes.append({"name": "home", "persistentVolumeClaim": {"claimName": claim}})
        # Its files writable by the shell's user; their group set again only if the root's is not this one.
        pod["securityContext"] = {"fsGroup": settings.home.fs_group, "fsGroupChangePolicy": "OnRootMismatch"}
    if recorder:
        mounts.append({"name": "ttyd-socket", "mountPath": TTYD_SOCKET_DIR})
        claim = {"claimName": settings.recording.claim_name}
        volumes += [{"name": "ttyd-socket", "emptyDir": {}}, {"name": "recordings", "persistentVolumeClaim": claim}]
        pod["initContainers"] = [recorder_container(shell, settings)]
        # The recorder writes the claim, and reaches ttyd's socket, as this group (settings: the same as
        # home's, if any). Its processes are its own whatever the jobTemplate says: never the shell's to see.
        pod["securityContext"] = {"fsGroup": settings.recording.fs_group, "fsGroupChangePolicy": "OnRootMismatch"}
        pod["shareProcessNamespace"] = False
    if mounts:
        container["volumeMounts"], pod["volumes"] = mounts, volumes
    job_spec: dict[str, Any] = {
        # A pod stopped from outside is replaced, uncounted: evicted, drained or its node gone
        # (DisruptionTarget), or deleted (the supervisor's 143). One that crashed, up to restart_limit
        # times. The idle rule's end (75) is final.
        "backoffLimit": settings.restart_limit,
        "podFailurePolicy": {
            "rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                {"action": "Ignore", "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": [143]}},
                {
                    "action": "FailJob",
                    "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": [IDLE_EXIT_CODE]},
                },
            ]
        },
        "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
        "template": {"metadata": {"labels": labels(shell)}, "spec": pod},
    }
    if ttl := ttl_seconds(spec):
        job_spec["activeDeadlineSeconds"] = ttl  # the TTL holds even while the operator is down
    meta = {**metadata(shell), "annotations": {SPEC_ANNOTATION: json.dumps(held_spec(spec, settings))}}
    rendered = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job_spec}
    return merge(templated(settings), rendered)


# --- the recorder ---------------------------------------------------------------------------------


def recorded(shell: dict[str, Any], settings: Settings) -> bool:
    """Whether the operator's recording policy records the shell: every one (``required``), or those
    annotated ``jupyter-cloudtty.io/record: "true"`` (``optional``: the Jupyter server sets it for a
    shell made with ``record``)."""
    mode = settings.recording.mode
    asked = (shell["metadata"].get("annotations") or {}).get(RECORD_ANNOTATION) == "true"
    return mode == "required" or (mode == "optional" and asked)


def recorder_command(shell: dict[str, Any], settings: Settings) -> list[str]:
    """``python3 -I -c LAUNCHER SOURCES ARGS``: the recorder and the one module of ours it needs, as
    source, so any image with python3 and websockets runs it and it is always the operator's own
    version. ``$`` doubled: the kubelet expands ``$(NAME)`` in a command, and turns ``$$`` into ``$``."""
    meta = shell["metadata"]
    folder = f"{RECORDINGS_DIR}/{meta['namespace']}"
    args = ["--listen", "$(POD_IPS)", "--port", str(TTYD_PORT), "--ttyd-socket", TTYD_SOCKET, "--folder", folder,
            "--shell", meta["name"], "--owner", (meta.get("labels") or {}).get(OWNER_LABEL, ""),
            "--spec", json.dumps(redacted(shell["spec"]), sort_keys=True).replace("$", "$$")]  # fmt: skip
    if settings.recording.record_input:
        args.append("--input")
    sources = json.dumps(RECORDER_SOURCES).replace("$", "$$")
    return ["python3", "-I", "-c", RECORDER_LAUNCHER, sources, *args]


def recorder_container(shell: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The recorder, a native sidecar: started, and listening, before ttyd's container starts; stopped
    after it ends; restarted if it stops (a recorder that cannot write says so and exits 73, which
    the operator reads as NotRecorded)."""
    probe = {"httpGet": {"path": RECORDER_READY_PATH, "port": "ttyd"}}
    return {
        "name": RECORDER,
        # The administrator's image, never the shell's: a user may choose the shell's among the allowed
        # ones, and the recorder holds every recording of the namespace.
        "image": settings.recording.image or default_image(settings),
        "restartPolicy": "Always",
        "command": recorder_command(shell, settings),
        # It listens on the pod's addresses (both families on a dual-stack cluster): what the Service,
        # the probes and NetworkPolicy reach. Not on localhost: the tests' node gives pods no network
        # of their own, and a port-forward is for an administrator, who reads the recordings anyway.
        "env": [{"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}],
        # A traceback (no websockets in the image, say) reaches the termination message, and the status.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "ports": [{"name": "ttyd", "containerPort": TTYD_PORT, "protocol": "TCP"}],
        # Started once it listens (it checked its folder first); ready while ttyd answers behind it.
        "startupProbe": {"tcpSocket": {"port": "ttyd"}, "periodSeconds": 1, "failureThreshold": 60},
        "readinessProbe": {**probe, "periodSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": "ttyd"}, "periodSeconds": 10},
        "securityContext": {**CONTAINER_SECURITY, "runAsUser": settings.recording.run_as_user, "runAsNonRoot": True},
        "resources": copy.deepcopy(settings.recording.resources),
        "volumeMounts": [
            {"name": "ttyd-socket", "mountPath": TTYD_SOCKET_DIR},
            {"name": "recordings", "mountPath": RECORDINGS_DIR},
        ],
    }


def templated(settings: Settings) -> dict[str, Any]:
    """What every shell's Job starts from: Pod Security and resources first, the admin's jobTemplate
    on them; ours (the spec's user...) goes on top."""
    restricted = {"spec": {"template": {"spec": {
        "securityContext": POD_SECURITY,
        "containers": [{"name": CONTAINER, "securityContext": CONTAINER_SECURITY, "resources": settings.resources}],
    }}}}  # fmt: skip
    return merge(copy.deepcopy(restricted), copy.deepcopy(settings.job_template))


def probes() -> dict[str, Any]:
    """The readiness and liveness probes of ttyd's port (a pool pod's agent listens on it too)."""
    probe = {"tcpSocket": {"port": "ttyd"}, "periodSeconds": 5}
    return {
        "readinessProbe": {**probe, "initialDelaySeconds": 1},
        "livenessProbe": {**probe, "initialDelaySeconds": 10},
    }


def adopting(the_job: dict[str, Any], pod: str) -> None:
    """Make ``the_job`` adopt the pool pod ``pod``: the Job controller adopts an orphan pod its selector
    matches, and the pod's own name label matched from its birth, so no lagging cache of the
    controller's misses it. A pod the Job makes later (a lost one's replacement) is a cold one, from
    its template."""
    selected = {POOL_POD_LABEL: pod}
    the_job["spec"]["manualSelector"] = True
    the_job["spec"]["selector"] = {"matchLabels": selected}
    template = the_job["spec"]["template"]
    template["metadata"] = {**template.get("metadata", {}), "labels": {**template["metadata"]["labels"], **selected}}


# --- the user's home ----------------------------------------------------------------------------


def home_claim_of(shell: dict[str, Any], settings: Settings) -> str | None:
    """The name of the shell's owner's home claim, if homes are on and the shell has an owner."""
    owner = (shell["metadata"].get("labels") or {}).get(OWNER_LABEL)
    return home_claim_name(owner) if settings.home.enabled and owner else None


def home_claim(shell: dict[str, Any], settings: Settings) -> dict[str, Any] | None:
    """The PersistentVolumeClaim of the shell's owner's home: no ownerReference, so it outlives every
    shell; labelled with its owner, kept or deleted by ``home.retentionDays``."""
    name = home_claim_of(shell, settings)
    if name is None:
        return None
    home = settings.home
    spec: dict[str, Any] = {"accessModes": list(home.access_modes), "resources": {"requests": {"storage": home.size}}}
    if home.storage_class:
        spec["storageClassName"] = home.storage_class
    owner = shell["metadata"]["labels"][OWNER_LABEL]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": shell["metadata"]["namespace"],
            "labels": {OWNER_LABEL: owner, HOME_LABEL: "true", MANAGED_BY: OPERATOR},
        },
        "spec": spec,
    }


# --- the Service and routes ---------------------------------------------------------------------


def service(shell: dict[str, Any]) -> dict[str, Any]:
    mode = shell["spec"].get("exposureMode", DEFAULT_EXPOSURE)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(shell),
        "spec": {
            "type": "NodePort" if mode == "NodePort" else "ClusterIP",
            "selector": labels(shell),
            "ports": [{"name": "ttyd", "port": TTYD_PORT, "targetPort": "ttyd", "protocol": "TCP"}],
        },
    }


# A shared Ingress/VirtualService the operator created: the only kind it edits or deletes (an
# administrator's object of the same name is never the operator's to change).
MANAGED_BY = "app.kubernetes.io/managed-by"
OPERATOR = "jupyter-cloudtty-operator"
SHARED_LABELS = {MANAGED_BY: OPERATOR, f"{GROUP}/shared": "true"}


def ingress_name(shell: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the shared Ingress a shell's path goes into; InvalidShell for a config
    the shell may not give it."""
    config = shell["spec"].get("ingressConfig", {})
    namespace = config.get("namespace") or shell["metadata"]["namespace"]
    if namespace != shell["metadata"]["namespace"]:
        raise InvalidShell(
            "spec.ingressConfig.namespace",
            "an Ingress can only route to Services of its own namespace; leave it empty or use the shell's",
        )
    if config.get("annotations"):
        raise InvalidShell(
            "spec.ingressConfig.annotations",
            "the shared Ingress's annotations are the administrator's (the chart's shell.ingressAnnotations): "
            "one shell's would act on every shell's paths",
        )
    return namespace, config.get("ingressName") or DEFAULT_INGRESS


def ingress_path(shell: dict[str, Any]) -> dict[str, Any]:
    """This shell's entry among the shared Ingress's paths."""
    return {
        "path": route_path(shell),
        "pathType": "Prefix",
        "backend": {"service": {"name": object_name(shell), "port": {"number": TTYD_PORT}}},
    }


def ingress(shell: dict[str, Any], paths: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """The shared Ingress holding ``paths``: class and host from the shell that creates it, annotations
    from the administrator's settings."""
    config = shell["spec"].get("ingressConfig", {})
    namespace, name = ingress_name(shell)
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if config.get("host"):
        rule["host"] = config["host"]
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(SHARED_LABELS)}
    if settings.ingress_annotations:
        meta["annotations"] = dict(settings.ingress_annotations)
    spec: dict[str, Any] = {"rules": [rule]}
    if config.get("ingressClassName"):
        spec["ingressClassName"] = config["ingressClassName"]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def virtual_service_name(shell: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the shared VirtualService a shell's route goes into; InvalidShell for a
    config the shell may not give it."""
    config = shell["spec"].get("virtualServiceConfig")
    if not config or not config.get("gateway"):
        raise InvalidShell("spec.virtualServiceConfig.gateway", "is required in VirtualService mode")
    namespace = config.get("namespace") or shell["metadata"]["namespace"]
    if namespace != shell["metadata"]["namespace"]:
        # Elsewhere (istio-system, another user's namespace) its routes would be the operator's doing, not the user's.
        raise InvalidShell(
            "spec.virtualServiceConfig.namespace",
            "a shell's route stays in the shell's namespace; leave it empty or use the shell's",
        )
    return namespace, config.get("virtualServiceName") or DEFAULT_VIRTUAL_SERVICE


def virtual_service_route(shell: dict[str, Any]) -> dict[str, Any]:
    """This shell's HTTP route in the shared VirtualService: its path to its Service, no rewrite."""
    namespace = shell["metadata"]["namespace"]
    return {
        "name": f"{namespace}-{object_name(shell)}",
        "match": [{"uri": {"prefix": route_path(shell)}}],
        "route": [
            {
                "destination": {
                    "host": f"{object_name(shell)}.{namespace}.svc.cluster.local",
                    "port": {"number": TTYD_PORT},
                }
            }
        ],
    }


def virtual_service(shell: dict[str, Any], routes: list[dict[str, Any]]) -> dict[str, Any]:
    """The shared VirtualService holding ``routes``: gateway and exportTo from the shell that creates it."""
    config = shell["spec"]["virtualServiceConfig"]
    namespace, name = virtual_service_name(shell)
    spec: dict[str, Any] = {"hosts": ["*"], "gateways": [config["gateway"]], "http": routes}
    if config.get("export_to"):
        spec["exportTo"] = [config["export_to"]]
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(SHARED_LABELS)},
        "spec": spec,
    }


def http_route(shell: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """GatewayAPI mode: the shell's own HTTPRoute, attached to the admin's Gateway."""
    gateway = settings.gateway
    if gateway is None:
        raise InvalidShell("spec.exposureMode", "GatewayAPI mode is not enabled: the operator has no Gateway set")
    parent: dict[str, Any] = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "namespace": gateway.namespace,
        "name": gateway.name,
    }
    if gateway.section_name:
        parent["sectionName"] = gateway.section_name
    spec: dict[str, Any] = {
        "parentRefs": [parent],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": route_path(shell)}}],
                "backendRefs": [{"name": object_name(shell), "port": TTYD_PORT}],
            }
        ],
    }
    if gateway.hostname:
        spec["hostnames"] = [gateway.hostname]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": metadata(shell),
        "spec": spec,
    }


# --- the shell's own identity in the cluster --------------------------------------------------------


def service_account(shell: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(shell)}


def secret(shell: dict[str, Any], token: str) -> dict[str, Any]:
    """The shell's own Secret: ttyd's ``token``, and the value of each of its env variables.

    Made once, before the Job, and never changed (immutable): the token is the shell's for its
    life. Readable only by those who may read Secrets in the namespace (the shell's owner's
    Jupyter server); the operator itself never reads it back.
    """
    values = {env_key(var["name"]): var["value"] for var in shell["spec"].get("env", []) if "value" in var}
    data = {TOKEN_KEY: token, **values}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(shell, secret_name(shell)),
        "type": "Opaque",
        "immutable": True,
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def ttyd_ingress(peers: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A NetworkPolicy's ingress rules: ttyd's port from ``peers`` only."""
    chosen = [copy.deepcopy(peer) for peer in peers]
    # A rule without `from` would admit every source: no peers, no rule.
    return [{"from": chosen, "ports": [{"port": TTYD_PORT, "protocol": "TCP"}]}] if chosen else []


def network_policy(shell: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Only the admin's peers (``networkPolicy.allowFrom``) reach the shell's ttyd; none if there are none."""
    rules = ttyd_ingress(settings.network_policy.allow_from)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(shell),
        "spec": {"podSelector": {"matchLabels": labels(shell)}, "policyTypes": ["Ingress"], "ingress": rules},
    }


def role_binding(shell: dict[str, Any], settings: Settings, also: str | None = None) -> dict[str, Any]:
    """Binds the admin's chosen role (default: read-only ``view``) in the shell's namespace only, to
    the shell's ServiceAccount and ``also`` (the one a claimed pool pod runs as)."""
    kind, name = settings.shell_role
    namespace = shell["metadata"]["namespace"]
    accounts = [object_name(shell), *([also] if also else [])]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(shell),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace} for account in accounts],
    }


def owned_objects(
    shell: dict[str, Any], settings: Settings, token: str, pool_pod: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Everything a shell owns outright, in the order they are created (shared route entries are apart):
    its Secret (holding ``token``, if it makes one) and NetworkPolicy before its pod can run.

    With ``pool_pod`` (the pool pod it claimed), its Job adopts that pod and its RoleBinding binds
    that pod's ServiceAccount too. ``shell`` validated; raises InvalidShell for a mode the
    operator's settings do not allow.
    """
    spec = shell.get("spec", {})
    objects = [secret(shell, token)]
    if settings.network_policy.enabled:
        objects.append(network_policy(shell, settings))
    pooled = pool_pod["metadata"]["name"] if pool_pod else None
    if kubeconfig_source(spec, settings)[0] is None:
        account = pool_pod["spec"].get("serviceAccountName") if pool_pod else None
        objects += [service_account(shell), role_binding(shell, settings, account)]
    the_job = job(shell, settings)
    if pooled:
        adopting(the_job, pooled)
    objects += [the_job, service(shell)]
    if spec.get("exposureMode") == "GatewayAPI":
        objects.append(http_route(shell, settings))
    return objects


# --- merging the admin's Job template -------------------------------------------------------------


def _named(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next((item for item in items if isinstance(item, dict) and item.get("name") == name), {})


def merge(base: Any, override: Any) -> Any:
    """``override`` on top of ``base``: dicts recursively, lists of named items by name."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list) and _all_named(base) and _all_named(override):
        names = [item["name"] for item in override]
        merged_items = [merge(_named(base, item["name"]), item) for item in override]
        return merged_items + [item for item in base if item["name"] not in names]
    return override


def _all_named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)
