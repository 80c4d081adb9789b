"""Pure rendering: a CloudShell and the operator's settings -> the Kubernetes objects it needs.

No I/O here (kubespawner's objects.py is the model): every function takes dicts and
settings and returns dicts, so each field and mode is tested without a cluster. The
reconciler applies what these return. A shell's spec is checked once, where it enters the
operator (``validated``); everything here renders from a validated spec.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from jupyter_cloudtty.cloudshell import API_VERSION, GROUP, KIND
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.names import TTYD_PORT, labels, object_name, route_path, routed_by_path, shell_name
from jupyter_cloudtty.cloudshell.spec import ttl_seconds, validate_spec
from jupyter_cloudtty.ttyd.protocol import client_option_value

from .settings import Settings

CONTAINER = "web-tty"
KUBECONFIG_DIR = "/etc/cloudshell/kubeconfig"
DEFAULT_INGRESS = "cloudshell-ingress"
DEFAULT_VIRTUAL_SERVICE = "cloudshell-virtualservice"  # lowercase: CloudTTY's default was not a valid name
TTYD_FLAGS = {"TTYD_PING_INTERVAL": "--ping-interval", "TTYD_SERVER_BUFFER_SIZE": "--srv-buf-size"}
TTYD_CREDENTIAL = "TTYD_CREDENTIAL"


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
    mode = spec.get("exposureMode", "NodePort")
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


def ttyd_command(shell: dict[str, Any]) -> list[str]:
    """The container's command: ttyd and its flags, then ``sh -c <commandAction>``.

    A TTYD_CREDENTIAL reaches ttyd from the environment at run time, so it is never in the
    pod's spec (which anyone who may read pods can see).
    """
    spec = shell["spec"]
    args = ["-W", "-p", str(TTYD_PORT)]
    if routed_by_path(spec):
        args += ["-b", route_path(shell)]
    if spec.get("once"):
        args.append("-o")
    if spec.get("urlArg"):
        args.append("-a")
    for key, value in spec.get("ttydClientOptions", {}).items():
        args += ["-t", f"{key}={client_option(value)}"]
    env = {var["name"] for var in spec.get("env", ())}
    for name, flag in TTYD_FLAGS.items():
        if name in env:
            args += [flag, f"$({name})"]  # expanded by the kubelet from the container's env
    args += ["sh", "-c", spec.get("commandAction", "bash")]
    if TTYD_CREDENTIAL in env:
        # Read it, hide it from the shell ttyd will start, then hand it to ttyd.
        unwrap = f'c="${TTYD_CREDENTIAL}"; unset {TTYD_CREDENTIAL}; exec ttyd -c "$c" "$@"'
        return ["sh", "-c", unwrap, "ttyd", *args]
    return ["ttyd", *args]


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


def security_context(spec: dict[str, Any]) -> dict[str, Any]:
    user = spec.get("runAsUser")
    if user is None:
        return {}
    if user == "root":
        return {"runAsUser": 0, "runAsNonRoot": False}
    return {"runAsUser": int(user)}


def container_env(shell: dict[str, Any], kubeconfig: bool) -> list[dict[str, Any]]:
    """The shell's environment: pod facts and a prompt, then the user's (which win by name)."""
    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "CONTAINER", "value": CONTAINER},
        {"name": "PS1", "value": "\\u@$(POD_NAME):\\w\\$ "},
    ]
    if kubeconfig:
        env.append({"name": "KUBECONFIG", "value": f"{KUBECONFIG_DIR}/config"})
    user = shell["spec"].get("env", [])
    overridden = {var["name"] for var in user}
    return [var for var in env if var["name"] not in overridden] + list(user)


def job(shell: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The Job whose one pod runs ttyd (``shell`` validated)."""
    spec = shell.get("spec", {})
    source, _note = kubeconfig_source(spec, settings)
    template = copy.deepcopy(settings.job_template)
    base_container = _named(
        template.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []), CONTAINER
    )
    probe = {"tcpSocket": {"port": "ttyd"}, "periodSeconds": 5}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.get("image") or base_container.get("image") or settings.image,
        "command": ttyd_command(shell),
        "ports": [{"name": "ttyd", "containerPort": TTYD_PORT, "protocol": "TCP"}],
        "env": container_env(shell, kubeconfig=source is not None),
        "readinessProbe": {**probe, "initialDelaySeconds": 1},
        "livenessProbe": {**probe, "initialDelaySeconds": 10},
    }
    if security := security_context(spec):
        container["securityContext"] = security
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if source is not None:
        container["volumeMounts"] = [{"name": "kubeconfig", "mountPath": KUBECONFIG_DIR, "readOnly": True}]
        pod["volumes"] = [{"name": "kubeconfig", **source}]
        pod["automountServiceAccountToken"] = False  # never the namespace's default token
    else:
        pod["serviceAccountName"] = object_name(shell)
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
        "template": {"metadata": {"labels": labels(shell)}, "spec": pod},
    }
    if ttl := ttl_seconds(spec):
        job_spec["activeDeadlineSeconds"] = ttl  # the TTL holds even while the operator is down
    rendered = {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(shell), "spec": job_spec}
    return merge(template, rendered)


# --- the Service and routes ---------------------------------------------------------------------


def service(shell: dict[str, Any]) -> dict[str, Any]:
    mode = shell["spec"].get("exposureMode", "NodePort")
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


def ingress_name(shell: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the shared Ingress a shell's path goes into."""
    config = shell["spec"].get("ingressConfig", {})
    namespace = config.get("namespace") or shell["metadata"]["namespace"]
    if namespace != shell["metadata"]["namespace"]:
        raise InvalidShell(
            "spec.ingressConfig.namespace",
            "an Ingress can only route to Services of its own namespace; leave it empty or use the shell's",
        )
    return namespace, config.get("ingressName") or DEFAULT_INGRESS


def ingress_path(shell: dict[str, Any]) -> dict[str, Any]:
    """This shell's entry among the shared Ingress's paths."""
    return {
        "path": route_path(shell),
        "pathType": "Prefix",
        "backend": {"service": {"name": object_name(shell), "port": {"number": TTYD_PORT}}},
    }


def ingress(shell: dict[str, Any], paths: list[dict[str, Any]]) -> dict[str, Any]:
    """The shared Ingress holding ``paths`` (class, annotations and host from this shell's config)."""
    config = shell["spec"].get("ingressConfig", {})
    namespace, name = ingress_name(shell)
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if config.get("host"):
        rule["host"] = config["host"]
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {f"{GROUP}/shared": "true"}}
    if config.get("annotations"):
        meta["annotations"] = dict(config["annotations"])
    spec: dict[str, Any] = {"rules": [rule]}
    if config.get("ingressClassName"):
        spec["ingressClassName"] = config["ingressClassName"]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def virtual_service_name(shell: dict[str, Any]) -> tuple[str, str]:
    config = shell["spec"].get("virtualServiceConfig")
    if not config or not config.get("gateway"):
        raise InvalidShell("spec.virtualServiceConfig.gateway", "is required in VirtualService mode")
    return (
        config.get("namespace") or shell["metadata"]["namespace"],
        config.get("virtualServiceName") or DEFAULT_VIRTUAL_SERVICE,
    )


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
    config = shell["spec"]["virtualServiceConfig"]
    namespace, name = virtual_service_name(shell)
    spec: dict[str, Any] = {"hosts": ["*"], "gateways": [config["gateway"]], "http": routes}
    if config.get("export_to"):
        spec["exportTo"] = [config["export_to"]]
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace, "labels": {f"{GROUP}/shared": "true"}},
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


def role_binding(shell: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Binds the admin's chosen role (default: read-only ``view``) in the shell's namespace only."""
    kind, name = settings.shell_role
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(shell),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [
            {"kind": "ServiceAccount", "name": object_name(shell), "namespace": shell["metadata"]["namespace"]}
        ],
    }


def owned_objects(shell: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    """Everything a shell owns outright, in the order they are created (shared route entries are apart).

    ``shell`` validated; raises InvalidShell for a mode the operator's settings do not allow.
    """
    spec = shell.get("spec", {})
    objects = []
    if kubeconfig_source(spec, settings)[0] is None:
        objects += [service_account(shell), role_binding(shell, settings)]
    objects += [job(shell, settings), service(shell)]
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
