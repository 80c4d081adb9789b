"""A CloudShell's name and spec, validated: what a request, the server and the operator all accept.

Validation here is backend-independent (the CRD's schema, and what the API server cannot say in it);
each backend then refuses the fields it cannot honour (``Backend.check_spec``). Pure: no I/O.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Callable

from .errors import InvalidShell

# Service `cloudshell-<name>` must be a DNS-1035 label (<= 63 characters).
MAX_NAME_LENGTH = 63 - len("cloudshell-")
# Patterns are matched with fullmatch: `$` would also accept a trailing newline.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_ROUTE_PATH = re.compile(r"[A-Za-z0-9._~/-]*")
_UID = re.compile(r"[0-9]{1,10}")  # ASCII digits: str.isdigit() also takes '²', which int() refuses
# Kubernetes' int32 (runAsUser, ttl); in seconds, 68 years: longer is a typo, and no timer overflows.
MAX_INT32 = 2**31 - 1
# Like Kubernetes' generateName: no vowels, no look-alike digits.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

EXPOSURE_MODES = ("ClusterIP", "NodePort", "Ingress", "VirtualService", "GatewayAPI")
# A shell that names no mode (the CRD's default too): reached only through the Jupyter server's
# relay, never from outside the cluster.
DEFAULT_EXPOSURE = "ClusterIP"


# --- names ------------------------------------------------------------------------------


def validate_name(name: Any, field: str = "name") -> str:
    """Return ``name`` if it is a DNS-1123 label short enough for ``cloudshell-<name>``."""
    if not isinstance(name, str):
        raise InvalidShell(field, f"must be a string, got {_kind(name)}")
    if not name:
        raise InvalidShell(field, "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidShell(
            field,
            f"must be at most {MAX_NAME_LENGTH} characters (so that 'cloudshell-<name>' "
            f"is a valid Service name), got {len(name)}",
        )
    if not _DNS_LABEL.fullmatch(name):
        raise InvalidShell(
            field,
            f"{name!r} is not a DNS-1123 label: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    return name


def generate_name(prefix: str = "shell-") -> str:
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


# --- spec validation ----------------------------------------------------------------------

Validator = Callable[[Any, str], Any]


def _shown(value: Any, limit: int = 80) -> str:
    """A value in a message: a string quoted (cut if long), else its kind, so a message stays short."""
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 4] + "...'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value.bit_length() < 64 else "a larger number"
    return _kind(value)


def _field(path: str, key: str) -> str:
    """``path.key``; a key that is long or not printable is shown quoted and cut: messages are logged."""
    if len(key) <= 64 and key.isprintable():
        return f"{path}.{key}"
    return f"{path}.{_shown(key, 64)}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidShell(path, f"must be a string, got {_kind(value)}")
    if "\0" in value:  # no command line, environment or label can hold one
        raise InvalidShell(path, "must not contain NUL characters")
    return value


def _nonempty_string(value: Any, path: str) -> str:
    if not _string(value, path).strip():
        raise InvalidShell(path, "must not be empty")
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidShell(path, f"must be true or false, got {_kind(value)}")
    return value


def _positive_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidShell(path, f"must be a whole number of seconds, got {_kind(value)}")
    if value < 1:
        raise InvalidShell(path, f"must be at least 1 second, got {_shown(value)}")
    if value > MAX_INT32:
        raise InvalidShell(path, f"must be at most {MAX_INT32} seconds (68 years), got {_shown(value)}")
    return value


def _seconds_or_zero(value: Any, path: str) -> int:
    """0 (off) or a positive number of seconds."""
    return 0 if value == 0 and not isinstance(value, bool) else _positive_int(value, path)


def _matching(pattern: re.Pattern[str], what: str) -> Validator:
    def check(value: Any, path: str) -> str:
        if not pattern.fullmatch(_string(value, path)) or len(value) > 253:
            raise InvalidShell(path, f"{_shown(value)} is not {what}")
        return value

    return check


_dns_subdomain = _matching(_DNS_SUBDOMAIN, "a valid Kubernetes object name (DNS-1123 subdomain)")
_dns_label = _matching(_DNS_LABEL, "a valid namespace name (DNS-1123 label)")
_route_path = _matching(_ROUTE_PATH, "a URL path (letters, digits and . _ ~ / - only)")


def _enum(*allowed: str) -> Validator:
    def check(value: Any, path: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise InvalidShell(path, f"must be one of {', '.join(allowed)}; got {_shown(value)}")
        return value

    return check


def _run_as_user(value: Any, path: str) -> str:
    if _string(value, path) != "root" and not (_UID.fullmatch(value) and int(value) <= MAX_INT32):
        raise InvalidShell(path, f"must be 'root' or a numeric UID (0 to {MAX_INT32}), got {_shown(value)}")
    return value


def _string_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidShell(path, f"must be an object of strings, got {_kind(value)}")
    for key, item in value.items():
        _string(item, _field(path, key))
    return dict(value)


def _object(fields: dict[str, Validator], required: tuple[str, ...] = ()) -> Validator:
    def check(value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidShell(path, f"must be an object, got {_kind(value)}")
        out = {}
        for key, item in value.items():
            if key not in fields:
                known = ", ".join(fields)
                raise InvalidShell(_field(path, key), f"unknown field (known: {known})")
            out[key] = fields[key](item, _field(path, key))
        for key in required:
            if key not in out:
                raise InvalidShell(_field(path, key), "is required")
        return out

    return check


def _env_var(value: Any, path: str) -> dict[str, Any]:
    var = _object({"name": _string, "value": _string, "valueFrom": _env_source}, required=("name",))(value, path)
    if not _ENV_NAME.fullmatch(var["name"]):
        raise InvalidShell(f"{path}.name", f"{_shown(var['name'])} is not a valid environment variable name")
    if "value" in var and "valueFrom" in var:
        raise InvalidShell(path, "set either value or valueFrom, not both")
    if var["name"] in TTYD_NUMBERS and "value" in var:
        low, high = TTYD_NUMBERS[var["name"]]
        if not (_UID.fullmatch(var["value"]) and low <= int(var["value"]) <= high):
            why = f"{var['name']} must be a whole number from {low} to {high}, got {_shown(var['value'])}"
            raise InvalidShell(f"{path}.value", why)
    return var


# Env values that become ttyd's flags in a cluster (operator/manifests.py TTYD_FLAGS), as ttyd
# 1.7.7 takes them: it exits on a value that is not a number or is negative; its libwebsockets
# keeps the ping interval, and that plus 7 s for the hangup, in 16 bits, and at 0 (or 65536)
# ttyd sends no output at all.
TTYD_NUMBERS = {"TTYD_PING_INTERVAL": (1, 65535 - 7), "TTYD_SERVER_BUFFER_SIZE": (0, MAX_INT32)}


def _env_source(value: Any, path: str) -> dict[str, Any]:
    """A Kubernetes EnvVarSource: one source, its fields flat (names, keys, paths, ``optional``)."""
    source = _object({kind: _source_fields for kind in ENV_SOURCES})(value, path)
    if len(source) != 1:
        raise InvalidShell(path, f"must have exactly one of {', '.join(ENV_SOURCES)}")
    return source


ENV_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")


def _source_fields(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidShell(path, f"must be an object, got {_kind(value)}")
    for key, item in value.items():
        if not isinstance(item, (str, bool)) and not (isinstance(item, int) and abs(item) <= MAX_INT32):
            raise InvalidShell(_field(path, key), f"must be a string, a boolean or a small number, got {_kind(item)}")
    return value


def _env(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidShell(path, f"must be a list of {{name, value}} objects, got {_kind(value)}")
    return [_env_var(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _client_options(value: Any, path: str) -> dict[str, str]:
    options = _string_map(value, path)
    for key, item in options.items():
        # ttyd reads `-t key=value`; CloudTTY's operator joins options with '|'.
        if not key or "=" in key or "|" in key:
            raise InvalidShell(_field(path, key), "a key must be non-empty and contain neither '=' nor '|'")
        if "|" in item:
            raise InvalidShell(_field(path, key), "a value must not contain '|'")
    return options


SPEC_FIELDS: dict[str, Validator] = {
    "commandAction": _nonempty_string,
    "image": _nonempty_string,
    "secretRef": _object({"name": _dns_subdomain}, required=("name",)),
    "configmapName": _dns_subdomain,
    "runAsUser": _run_as_user,
    "once": _boolean,
    "urlArg": _boolean,
    "ttlSecondsAfterStarted": _positive_int,
    "ttl": _positive_int,
    "idleTimeoutSeconds": _seconds_or_zero,
    "cleanup": _boolean,
    "exposureMode": _enum(*EXPOSURE_MODES),
    "ingressConfig": _object(
        {
            "ingressName": _dns_subdomain,
            "namespace": _dns_label,
            "ingressClassName": _string,
            "annotations": _string_map,
            "host": _string,
        }
    ),
    "virtualServiceConfig": _object(
        {"virtualServiceName": _dns_subdomain, "namespace": _dns_label, "export_to": _string, "gateway": _string}
    ),
    "pathPrefix": _route_path,
    "pathSuffix": _route_path,
    "env": _env,
    "ttydClientOptions": _client_options,
}


def validate_spec(spec: Any, path: str = "spec") -> dict[str, Any]:
    """Return a normalised copy of a CloudShell spec, or raise InvalidShell naming the field.

    ``null`` values mean "not set", as in a Kubernetes manifest.
    """
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise InvalidShell(path, f"must be an object, got {_kind(spec)}")
    out = {}
    for key, value in spec.items():
        if key not in SPEC_FIELDS:
            raise InvalidShell(_field(path, key), "unknown field (see the CloudShell spec for the fields a shell has)")
        if value is not None:
            out[key] = SPEC_FIELDS[key](value, _field(path, key))
    return out


# What a request may try to set around its spec, and who sets it instead.
SERVER_SET = {
    "namespace": "c.CloudTTY.namespace or namespace_template",
    "metadata": "the name is 'name'; labels and annotations are the server's",
    "labels": "the server labels each shell with its owner",
    "annotations": "the server annotates each shell with its owner",
    "owner": "the owner is the Jupyter server's user (c.CloudTTY.owner)",
    "status": "the status is the operator's",
}


def parse_create_request(body: Any) -> tuple[str | None, dict[str, Any]]:
    """``{"name"?: str, "spec"?: {...}}`` -> (name or None, validated spec)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidShell("body", f"must be a JSON object, got {_kind(body)}")
    for key in body:
        if key in SERVER_SET:
            raise InvalidShell(key, f"set by the server, not by a request ({SERVER_SET[key]})")
        if key not in ("name", "spec"):
            raise InvalidShell(_field("", key)[1:], "unknown field (a request has 'name' and 'spec')")
    name = body.get("name")
    if name is not None:
        validate_name(name)
    return name, validate_spec(body.get("spec"))


TTL_FIELDS = ("ttlSecondsAfterStarted", "ttl")


def parse_change_request(body: Any, current: dict[str, Any]) -> int:
    """``{"spec": {"ttlSecondsAfterStarted": N}}`` (a PATCH of a running shell) -> N, its new TTL.

    A running shell can change its lifetime and nothing else: its pod already runs what the rest
    of the spec asked for. A field given with the value it already has is no change (a client
    may send the whole spec back); any other is refused, naming it, rather than ignored.
    """
    if not isinstance(body, dict):
        raise InvalidShell("body", f"must be a JSON object, got {_kind(body)}")
    for key in body:
        if key != "spec":
            raise InvalidShell(_field("", key)[1:], "cannot change (a change has only 'spec')")
    spec = validate_spec(body.get("spec"))
    for key, value in spec.items():
        if key not in TTL_FIELDS and value != current.get(key):
            raise InvalidShell(
                f"spec.{key}",
                "cannot change on a running shell (only spec.ttlSecondsAfterStarted can): "
                "delete it and create a new one",
            )
    ttl = ttl_seconds(spec)
    if ttl is None:
        raise InvalidShell("spec.ttlSecondsAfterStarted", "missing: the new lifetime in seconds")
    return ttl


def check_ttl(ttl: int, max_ttl: int, field: str = "spec.ttlSecondsAfterStarted") -> int:
    """``ttl`` if the administrator's longest (``max_ttl``; 0: no limit) allows it, else InvalidShell."""
    if max_ttl and ttl > max_ttl:
        raise InvalidShell(field, f"at most {max_ttl} seconds here (c.CloudTTY.max_ttl), got {ttl}")
    return ttl


def with_ttl_bound(spec: dict[str, Any], max_ttl: int) -> dict[str, Any]:
    """``spec`` under the administrator's longest TTL (``max_ttl``; 0: none): a shell that names no
    TTL gets it, one that asks for more is refused (InvalidShell naming the field it used)."""
    if not max_ttl:
        return spec
    ttl = ttl_seconds(spec)
    if ttl is None:
        return {**spec, "ttlSecondsAfterStarted": max_ttl}
    check_ttl(ttl, max_ttl, "spec.ttlSecondsAfterStarted" if "ttlSecondsAfterStarted" in spec else "spec.ttl")
    return spec


def with_idle_rule(spec: dict[str, Any], idle_timeout: int) -> dict[str, Any]:
    """``spec`` under the administrator's idle rule (``idle_timeout`` seconds; 0: none): a shell that
    names none gets it, one may ask for a shorter one, never for a longer one or none."""
    if not idle_timeout:
        return spec
    asked = spec.get("idleTimeoutSeconds")
    if asked is None:
        return {**spec, "idleTimeoutSeconds": idle_timeout}
    if asked == 0 or asked > idle_timeout:
        raise InvalidShell(
            "spec.idleTimeoutSeconds",
            f"at most {idle_timeout} seconds here (c.CloudTTY.idle_timeout), got {asked or '0 (never)'}",
        )
    return spec


def ttl_seconds(spec: dict[str, Any]) -> int | None:
    """The shell's lifetime: ``ttlSecondsAfterStarted`` wins over the older ``ttl``."""
    return spec.get("ttlSecondsAfterStarted", spec.get("ttl"))


def redacted(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` for a recording's header: env values may be secrets, so their names stay and the values go."""
    if "env" not in spec:
        return spec
    return {**spec, "env": [{"name": var.get("name")} for var in spec["env"]]}
