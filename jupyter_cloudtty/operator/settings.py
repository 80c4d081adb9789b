"""What the operator's admin decides (Helm values -> a config file), as opposed to a user's spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    def retry_delay(self, retry: int, retry_after: float = 0.0) -> float:
        """Seconds before a handler's retry number ``retry`` (0: the first run failed)."""
        return backoff.delay(retry + 1, self.retry_backoff, self.max_retry_backoff, retry_after)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> Settings:
        """Settings from the operator's YAML config (camelCase keys, as in Helm values)."""
        config = dict(config or {})
        known = {"image", "kubeconfigKey", "featureGates", "shellRole", "jobTemplate", "ttlSecondsAfterFinished",
                 "gateway", "retryBackoffSeconds", "maxRetryBackoffSeconds", "requestTimeoutSeconds"}  # fmt: skip
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
        return cls(
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
        )


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
