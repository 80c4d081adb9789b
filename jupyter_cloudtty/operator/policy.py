"""What the administrator lets a CloudShell ask for, checked by the operator (pure).

The chart's ValidatingAdmissionPolicy refuses such a shell at the API server for everyone but the
administrators; this is the second line, and the only one for a shell an administrator wrote or on a
cluster without that policy. A shell asking for more than ``Settings.policy`` allows is not run:
``check`` raises InvalidShell naming the field and the setting (the chart's value), and the reconciler
fails the shell with it (``InvalidSpec``) before anything is created for it.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.spec import DEFAULT_EXPOSURE, ttl_seconds

from . import manifests
from .settings import Settings


def check(shell: dict[str, Any], settings: Settings) -> None:
    """InvalidShell for the first field of ``shell`` (validated) that the policy does not allow."""
    spec, policy = shell["spec"], settings.policy
    if "image" in spec:
        _image(spec["image"], settings)
    if manifests.run_as_root(spec) and not policy.allow_root:
        raise InvalidShell("spec.runAsUser", f"{spec['runAsUser']!r} is root, not allowed (policy.allowRoot: false)")
    if "secretRef" in spec:
        _listed(spec["secretRef"]["name"], policy.kubeconfig_secrets, "spec.secretRef.name",
                "kubeconfig Secret", "policy.kubeconfigSecrets")  # fmt: skip
    if "configmapName" in spec:
        _listed(spec["configmapName"], policy.kubeconfig_config_maps, "spec.configmapName",
                "kubeconfig ConfigMap", "policy.kubeconfigConfigMaps")  # fmt: skip
    for i, var in enumerate(spec.get("env", ())):
        if var["name"] == manifests.TTYD_TOKEN:
            raise InvalidShell(f"spec.env[{i}].name", f"{manifests.TTYD_TOKEN} is the operator's (the shell's token)")
        if "valueFrom" in var and not policy.allow_env_value_from:
            raise InvalidShell(
                f"spec.env[{i}].valueFrom",
                "not allowed (policy.allowEnvValueFrom: false): it could read any Secret or ConfigMap of the "
                "namespace; give a value (it is kept in the shell's own Secret)",
            )
    mode = spec.get("exposureMode", DEFAULT_EXPOSURE)
    if mode not in policy.exposure_modes:
        shown = f"{mode!r}" if "exposureMode" in spec else f"{mode!r} (the default)"
        raise InvalidShell(
            "spec.exposureMode", f"{shown} is not allowed (policy.exposureModes: {', '.join(policy.exposure_modes)})"
        )
    if policy.max_ttl_seconds:
        for key in ("ttlSecondsAfterStarted", "ttl"):
            if spec.get(key, 0) > policy.max_ttl_seconds:
                raise InvalidShell(
                    f"spec.{key}", f"{spec[key]} seconds is more than policy.maxTtlSeconds ({policy.max_ttl_seconds})"
                )


def defaults(shell: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What the policy gives a shell that asks for nothing: the longest TTL, to a shell without one
    (a shell with no TTL under ``policy.maxTtlSeconds`` would otherwise run forever)."""
    limit = settings.policy.max_ttl_seconds
    return {"ttlSecondsAfterStarted": limit} if limit and ttl_seconds(shell["spec"]) is None else {}


def _image(image: str, settings: Settings) -> None:
    """The operator's own shell image, or one the administrator's patterns match."""
    own = {settings.image, manifests.default_image(settings)}
    if image in own or any(fnmatchcase(image, pattern) for pattern in settings.policy.allowed_images):
        return
    allowed = ", ".join(settings.policy.allowed_images) or "none"
    raise InvalidShell(
        "spec.image",
        f"{image!r} is not an allowed image (policy.allowedImages: {allowed}; "
        f"or the shell image {manifests.default_image(settings)!r})",
    )


def _listed(name: str, allowed: tuple[str, ...], field: str, what: str, setting: str) -> None:
    if name not in allowed:
        raise InvalidShell(field, f"{name!r} is not an allowed {what} ({setting}: {', '.join(allowed) or 'none'})")
