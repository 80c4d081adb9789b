"""What the operator's admin decides (Helm values -> a config file), as opposed to a user's spec."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from jupyter_cloudtty.cloudshell.spec import EXPOSURE_MODES
from jupyter_cloudtty.kube import backoff

FEATURE_GATES = ("AllowSecretStoreKubeconfig",)


class InvalidSettings(ValueError):
    """The operator's configuration is wrong; the message names the key."""


@dataclass(frozen=True)
class GatewayRef:
    """The Gateway that GatewayAPI-mode routes attach to; the admin's choice, never the user's."""

    name: str
    namespace: str
    section_name: str | None = None
    hostname: str | None = None
    https: bool = False


@dataclass(frozen=True)
class ShellPolicy:
    """What a CloudShell may ask for: the administrator's, for every shell, whoever wrote it.

    The chart's ValidatingAdmissionPolicy refuses the rest at the API server for everyone but the
    administrators (the first line); the operator refuses it again with an ``InvalidSpec`` condition
    (the second line, and the only one for an administrator's own shells or a cluster without the
    admission policy). Same values in both: the chart's ``policy``.
    """

    allowed_images: tuple[str, ...] = ()  # fnmatch patterns; empty: only the operator's own image
    allow_root: bool = False  # runAsUser: root (or 0)
    kubeconfig_secrets: tuple[str, ...] = ()  # Secrets a shell may mount as its kubeconfig (secretRef)
    kubeconfig_config_maps: tuple[str, ...] = ()  # ConfigMaps likewise (configmapName)
    allow_env_value_from: bool = False  # env[].valueFrom: any Secret or ConfigMap of the namespace
    exposure_modes: tuple[str, ...] = ("ClusterIP",)
    max_ttl_seconds: int = 0  # 0: no limit


@dataclass(frozen=True)
class NetworkPolicySettings:
    """A NetworkPolicy per shell: its ttyd reachable only from these NetworkPolicyPeers."""

    enabled: bool = True
    # kubespawner labels every single-user server pod so; in the shell's own namespace.
    allow_from: tuple[dict[str, Any], ...] = ({"podSelector": {"matchLabels": {"component": "singleuser-server"}}},)


@dataclass(frozen=True)
class UserNamespaces:
    """Per-user namespaces (KubeSpawner's ``enable_user_namespaces``): in each namespace labelled
    ``label``, the operator binds ``cluster_role`` to the ServiceAccount the user's server runs as."""

    enabled: bool = False
    label: str = "jupyter-cloudtty.io/owner"
    service_account: str = "default"
    cluster_role: str = ""


@dataclass(frozen=True)
class HomeSettings:
    """A home per user that outlives shells: a PersistentVolumeClaim in the shell's namespace, named
    for the shell's owner (its owner label), mounted at ``mount_path`` in every shell of that user."""

    enabled: bool = False
    size: str = "1Gi"
    storage_class: str | None = None  # None: the cluster's default StorageClass
    access_modes: tuple[str, ...] = ("ReadWriteOnce",)  # ReadWriteMany for shells on several nodes
    mount_path: str = "/home/shell"  # the shell image's user's home
    fs_group: int = 1000  # the group that may write it (the shell image's user's)
    retention_days: int = 0  # a home no shell used for this long is deleted; 0: kept until deleted


RECORDING_MODES = ("off", "optional", "required")


@dataclass(frozen=True)
class RecordingSettings:
    """The operator's recording policy, for shells whoever made them (``c.CloudTTY.recording`` is the
    Jupyter server's, for the terminals it relays): ``required`` records every shell, ``optional``
    those annotated ``jupyter-cloudtty.io/record: "true"``, ``off`` none. A recorded shell's pod gets
    the recorder (recorder.py), writing to ``claim_name``, a PersistentVolumeClaim of the shell's
    namespace that the administrator makes, mounted in the recorder alone."""

    mode: str = "off"
    claim_name: str = "cloudshell-recordings"
    record_input: bool = False  # what is typed too (passwords typed at a prompt that hides them included)
    image: str = ""  # the recorder's image: python3 with websockets; "" is the shell's own image
    run_as_user: int = 1000  # the recorder's user: it owns the files it writes
    fs_group: int = 1000  # the claim's group, so that the recorder's user may write it
    resources: dict[str, Any] = field(
        default_factory=lambda: {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
    )


@dataclass(frozen=True)
class PoolSettings:
    """Warm pods kept Running and Ready, not yet anyone's, so that a new shell starts in one of them:
    ``namespaces`` says how many in each namespace, ``max_pods`` bounds them all together."""

    namespaces: dict[str, int] = field(default_factory=dict)
    max_pods: int = 20
    # How the operator reaches a claimed pod's agent: at the pod's IP ("direct": the operator's pod
    # is among the pool's NetworkPolicy peers) or through the API server's pods/proxy ("apiserver":
    # for an operator outside the cluster's network).
    connect_via: str = "direct"
    # NetworkPolicyPeers of the operator's own pods (the chart fills them in): pool pods admit them.
    operator_peers: tuple[dict[str, Any], ...] = ()

    def size(self, namespace: str) -> int:
        return self.namespaces.get(namespace, 0)


DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


@dataclass(frozen=True)
class Settings:
    image: str = "jupyter-cloudtty/cloudshell:latest"
    kubeconfig_key: str = "config"
    allow_secret_store_kubeconfig: bool = False  # feature gate: ignore `configmapName`
    shell_role: tuple[str, str] = ("ClusterRole", "view")  # bound in the shell's namespace only
    job_template: dict[str, Any] = field(default_factory=dict)
    ttl_seconds_after_finished: int = 300
    gateway: GatewayRef | None = None
    # A handler that met a failing API server (429, 5xx, no answer) runs again after this long,
    # doubled (with jitter) at each failure in a row up to the max, and at least a 429's Retry-After.
    retry_backoff: float = 1.0
    max_retry_backoff: float = 60.0
    request_timeout: float = 30.0  # a request the API server leaves unanswered this long failed
    policy: ShellPolicy = ShellPolicy()
    resources: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_RESOURCES))
    network_policy: NetworkPolicySettings = NetworkPolicySettings()
    ingress_annotations: dict[str, str] = field(default_factory=dict)  # on every shared Ingress
    user_namespaces: UserNamespaces = UserNamespaces()
    # A shell's pod that crashed is replaced up to this many times (the Job's backoffLimit); one
    # stopped from outside (deleted, evicted, drained, its node gone) always, uncounted.
    restart_limit: int = 3
    home: HomeSettings = HomeSettings()
    idle_timeout_seconds: int = 0  # of a shell whose spec names none; 0: no idle rule
    pool: PoolSettings = PoolSettings()
    recording: RecordingSettings = RecordingSettings()

    def retry_delay(self, retry: int, retry_after: float = 0.0) -> float:
        """Seconds before a handler's retry number ``retry`` (0: the first run failed)."""
        return backoff.delay(retry + 1, self.retry_backoff, self.max_retry_backoff, retry_after)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> Settings:
        """Settings from the operator's YAML config (camelCase keys, as in Helm values)."""
        config = dict(config or {})
        known = {"image", "kubeconfigKey", "featureGates", "shellRole", "jobTemplate", "ttlSecondsAfterFinished",
                 "gateway", "retryBackoffSeconds", "maxRetryBackoffSeconds", "requestTimeoutSeconds",
                 "policy", "resources", "networkPolicy", "ingressAnnotations", "userNamespaces",
                 "restartLimit", "idleTimeoutSeconds", "home", "pool", "recording"}  # fmt: skip
        for key in config:
            if key not in known:
                raise InvalidSettings(f"{key}: unknown setting (known: {', '.join(sorted(known))})")
        gates = _mapping(config.get("featureGates", {}), "featureGates")
        for gate, value in gates.items():
            if gate not in FEATURE_GATES:
                raise InvalidSettings(f"featureGates.{gate}: unknown gate (known: {', '.join(FEATURE_GATES)})")
            _typed(value, bool, f"featureGates.{gate}")
        role = _mapping(config.get("shellRole", {"kind": "ClusterRole", "name": "view"}), "shellRole")
        if role.get("kind") not in ("ClusterRole", "Role") or not isinstance(role.get("name"), str):
            raise InvalidSettings("shellRole: give {kind: ClusterRole|Role, name: <role>}")
        gateway = None
        if config.get("gateway"):
            g = _mapping(config["gateway"], "gateway")
            for key in ("name", "namespace"):
                _typed(g.get(key), str, f"gateway.{key}")
            gateway = GatewayRef(g["name"], g["namespace"], g.get("sectionName"), g.get("hostname"),
                                 bool(g.get("https", False)))  # fmt: skip
        settings = cls(
            image=_typed(config.get("image", cls.image), str, "image"),
            kubeconfig_key=_typed(config.get("kubeconfigKey", cls.kubeconfig_key), str, "kubeconfigKey"),
            allow_secret_store_kubeconfig=gates.get("AllowSecretStoreKubeconfig", False),
            shell_role=(role["kind"], role["name"]),
            job_template=_mapping(config.get("jobTemplate", {}), "jobTemplate"),
            ttl_seconds_after_finished=_typed(
                config.get("ttlSecondsAfterFinished", cls.ttl_seconds_after_finished), int, "ttlSecondsAfterFinished"
            ),
            gateway=gateway,
            retry_backoff=_seconds(config.get("retryBackoffSeconds", cls.retry_backoff), "retryBackoffSeconds"),
            max_retry_backoff=_seconds(
                config.get("maxRetryBackoffSeconds", cls.max_retry_backoff), "maxRetryBackoffSeconds"
            ),
            request_timeout=_seconds(config.get("requestTimeoutSeconds", cls.request_timeout), "requestTimeoutSeconds"),
            policy=_policy(_mapping(config.get("policy", {}), "policy")),
            resources=_mapping(config.get("resources", DEFAULT_RESOURCES), "resources"),
            network_policy=_network_policy(_mapping(config.get("networkPolicy", {}), "networkPolicy")),
            ingress_annotations=_strings(config.get("ingressAnnotations", {}), "ingressAnnotations"),
            user_namespaces=_user_namespaces(_mapping(config.get("userNamespaces", {}), "userNamespaces")),
            restart_limit=_count(config.get("restartLimit", cls.restart_limit), "restartLimit"),
            home=_home(_mapping(config.get("home", {}), "home")),
            idle_timeout_seconds=_count(
                config.get("idleTimeoutSeconds", cls.idle_timeout_seconds), "idleTimeoutSeconds"
            ),
            pool=_pool(_mapping(config.get("pool", {}), "pool")),
            recording=_recording(_mapping(config.get("recording", {}), "recording")),
        )
        if (
            settings.recording.mode != "off"
            and settings.home.enabled
            and settings.home.fs_group != settings.recording.fs_group
        ):
            raise InvalidSettings(
                f"recording.fsGroup: a pod has one fsGroup, and home.fsGroup is {settings.home.fs_group}"
                f" (got {settings.recording.fs_group}): give both the same"
            )
        return settings


def _pool(config: dict[str, Any]) -> PoolSettings:
    d = PoolSettings()
    _known(config, "pool", {"namespaces", "maxPods", "connectVia", "operatorPeers"})
    namespaces = _mapping(config.get("namespaces") or {}, "pool.namespaces")
    for namespace, size in namespaces.items():
        _count(size, f"pool.namespaces.{namespace}")
    via = config.get("connectVia", d.connect_via)
    if via not in ("direct", "apiserver"):
        raise InvalidSettings(f"pool.connectVia: 'direct' or 'apiserver', got {via!r}")
    peers = _typed(config.get("operatorPeers") or [], list, "pool.operatorPeers")
    for i, peer in enumerate(peers):
        _typed(peer, dict, f"pool.operatorPeers[{i}]")
    return PoolSettings(namespaces=namespaces, max_pods=_count(config.get("maxPods", d.max_pods), "pool.maxPods"),
                        connect_via=via, operator_peers=tuple(peers))  # fmt: skip


def _recording(config: dict[str, Any]) -> RecordingSettings:
    d = RecordingSettings()
    _known(config, "recording", {"mode", "claimName", "recordInput", "image", "runAsUser", "fsGroup", "resources"})
    mode = config.get("mode", d.mode)
    if mode is False:  # YAML 1.1 reads an unquoted `off` as false
        mode = "off"
    if mode not in RECORDING_MODES:
        raise InvalidSettings(f"recording.mode: one of {', '.join(RECORDING_MODES)}, got {mode!r}")
    claim = _typed(config.get("claimName", d.claim_name), str, "recording.claimName")
    if not claim:
        raise InvalidSettings("recording.claimName: the PersistentVolumeClaim recordings go to; give its name")
    user = _count(config.get("runAsUser", d.run_as_user), "recording.runAsUser")
    if user == 0:
        raise InvalidSettings("recording.runAsUser: not root (0): the pod runs under Pod Security 'restricted'")
    return RecordingSettings(
        mode=mode,
        claim_name=claim,
        record_input=_typed(config.get("recordInput", d.record_input), bool, "recording.recordInput"),
        image=_typed(config.get("image", d.image), str, "recording.image"),
        run_as_user=user,
        fs_group=_count(config.get("fsGroup", d.fs_group), "recording.fsGroup"),
        resources=_mapping(config.get("resources", d.resources), "recording.resources"),
    )


def _home(config: dict[str, Any]) -> HomeSettings:
    d = HomeSettings()
    _known(config, "home", {"enabled", "size", "storageClassName", "accessModes", "mountPath", "fsGroup",
                            "retentionDays"})  # fmt: skip
    storage_class = config.get("storageClassName") or None
    if storage_class is not None:
        _typed(storage_class, str, "home.storageClassName")
    mount_path = _typed(config.get("mountPath", d.mount_path), str, "home.mountPath")
    if not mount_path.startswith("/"):
        raise InvalidSettings(f"home.mountPath: must be an absolute path, got {mount_path!r}")
    return HomeSettings(
        enabled=_typed(config.get("enabled", d.enabled), bool, "home.enabled"),
        size=_typed(config.get("size", d.size), str, "home.size"),
        storage_class=storage_class,
        access_modes=_names(config.get("accessModes", d.access_modes), "home.accessModes"),
        mount_path=mount_path,
        fs_group=_count(config.get("fsGroup", d.fs_group), "home.fsGroup"),
        retention_days=_count(config.get("retentionDays", d.retention_days), "home.retentionDays"),
    )


def _count(value: Any, key: str) -> int:
    """A whole number, 0 or more."""
    if _typed(value, int, key) < 0:
        raise InvalidSettings(f"{key}: must be 0 or more, got {value}")
    return value


def _known(config: dict[str, Any], key: str, known: set[str]) -> None:
    for name in config:
        if name not in known:
            raise InvalidSettings(f"{key}.{name}: unknown setting (known: {', '.join(sorted(known))})")


def _policy(config: dict[str, Any]) -> ShellPolicy:
    d = ShellPolicy()
    _known(config, "policy", {"allowedImages", "allowRoot", "kubeconfigSecrets", "kubeconfigConfigMaps",
                              "allowEnvValueFrom", "exposureModes", "maxTtlSeconds"})  # fmt: skip
    modes = _names(config.get("exposureModes", d.exposure_modes), "policy.exposureModes")
    for mode in modes:
        if mode not in EXPOSURE_MODES:
            raise InvalidSettings(f"policy.exposureModes: {mode!r} is not a mode (modes: {', '.join(EXPOSURE_MODES)})")
    ttl = _typed(config.get("maxTtlSeconds", d.max_ttl_seconds), int, "policy.maxTtlSeconds")
    if ttl < 0:
        raise InvalidSettings(f"policy.maxTtlSeconds: must be 0 (no limit) or more, got {ttl}")
    return ShellPolicy(
        allowed_images=_names(config.get("allowedImages", ()), "policy.allowedImages"),
        allow_root=_typed(config.get("allowRoot", d.allow_root), bool, "policy.allowRoot"),
        kubeconfig_secrets=_names(config.get("kubeconfigSecrets", ()), "policy.kubeconfigSecrets"),
        kubeconfig_config_maps=_names(config.get("kubeconfigConfigMaps", ()), "policy.kubeconfigConfigMaps"),
        allow_env_value_from=_typed(
            config.get("allowEnvValueFrom", d.allow_env_value_from), bool, "policy.allowEnvValueFrom"
        ),  # fmt: skip
        exposure_modes=modes,
        max_ttl_seconds=ttl,
    )


def _network_policy(config: dict[str, Any]) -> NetworkPolicySettings:
    d = NetworkPolicySettings()
    _known(config, "networkPolicy", {"enabled", "allowFrom"})
    peers = _typed(config.get("allowFrom", list(d.allow_from)), list, "networkPolicy.allowFrom")
    for i, peer in enumerate(peers):
        _typed(peer, dict, f"networkPolicy.allowFrom[{i}]")
    return NetworkPolicySettings(
        enabled=_typed(config.get("enabled", d.enabled), bool, "networkPolicy.enabled"), allow_from=tuple(peers)
    )


def _user_namespaces(config: dict[str, Any]) -> UserNamespaces:
    d = UserNamespaces()
    _known(config, "userNamespaces", {"enabled", "label", "serviceAccount", "clusterRole"})
    settings = UserNamespaces(
        enabled=_typed(config.get("enabled", d.enabled), bool, "userNamespaces.enabled"),
        label=_typed(config.get("label", d.label), str, "userNamespaces.label"),
        service_account=_typed(config.get("serviceAccount", d.service_account), str, "userNamespaces.serviceAccount"),
        cluster_role=_typed(config.get("clusterRole", d.cluster_role), str, "userNamespaces.clusterRole"),
    )
    if settings.enabled and not settings.cluster_role:
        raise InvalidSettings("userNamespaces.clusterRole: required when userNamespaces.enabled (the chart sets it)")
    return settings


def _names(value: Any, key: str) -> tuple[str, ...]:
    items = _typed(value if not isinstance(value, tuple) else list(value), list, key)
    for i, item in enumerate(items):
        _typed(item, str, f"{key}[{i}]")
    return tuple(items)


def _strings(value: Any, key: str) -> dict[str, str]:
    mapping = _mapping(value, key)
    for name, item in mapping.items():
        _typed(item, str, f"{key}.{name}")
    return mapping


def _typed(value: Any, kind: type, key: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidSettings(f"{key}: must be {kind.__name__}, got {value!r}")
    return value


def _seconds(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidSettings(f"{key}: must be a positive number of seconds, got {value!r}")
    return float(value)


def _mapping(value: Any, key: str) -> dict[str, Any]:
    return dict(_typed(value, dict, key))
