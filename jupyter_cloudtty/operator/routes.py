"""A shell's entry in a shared route: a path in a shared Ingress, a route in a shared VirtualService (pure).

Several shells share one Ingress (or VirtualService); each owns one entry in it. Adding or removing
an entry is a merge patch guarded by the object's resourceVersion, so that of two shells editing
it at once, one is refused (409) and does its edit again on the newer copy. The reconciler makes
the requests; this module only says what they carry.

A shell writes into an object other users' shells share, so it gets no say in what acts on them
all: the operator edits or deletes only objects it created (``managed``), a shell's entry joins only
if the object's class, host, gateway and exportTo are the ones it asks for, and never displaces
another shell's. The rest is refused with InvalidShell naming the field.
"""

from __future__ import annotations

from typing import Any

from jupyter_cloudtty.cloudshell import names
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.spec import DEFAULT_EXPOSURE

from . import manifests
from .settings import Settings

KINDS = ("Ingress", "VirtualService")

RouteKey = tuple[str, str, str]  # (kind, namespace, name)


def shared_route(shell: dict[str, Any]) -> RouteKey | None:
    """The shared object this shell has an entry in, by its exposure mode (InvalidShell if its config is wrong)."""
    mode = shell.get("spec", {}).get("exposureMode", DEFAULT_EXPOSURE)
    if mode == "Ingress":
        return ("Ingress", *manifests.ingress_name(shell))
    if mode == "VirtualService":
        return ("VirtualService", *manifests.virtual_service_name(shell))
    return None


def managed(obj: dict[str, Any]) -> bool:
    """Whether the operator created this shared object (its label): it edits and deletes no other."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get(manifests.MANAGED_BY) == manifests.OPERATOR


def fresh(shell: dict[str, Any], kind: str, settings: Settings) -> dict[str, Any]:
    """The shared object as the first shell creates it: with this shell's entry only."""
    if kind == "Ingress":
        return manifests.ingress(shell, [manifests.ingress_path(shell)], settings)
    return manifests.virtual_service(shell, [manifests.virtual_service_route(shell)])


def with_entry(shell: dict[str, Any], kind: str, current: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch adding this shell's entry to ``current`` (guarded by its resourceVersion), or None if present.

    InvalidShell, naming the field, if the entry may not go in: ``current`` is not the operator's, it
    has another class, host, gateway or exportTo than the shell asks for (they act on every entry),
    or another shell's entry has this shell's path.
    """
    _check_joins(shell, kind, current)
    name, rv = current["metadata"]["name"], {"resourceVersion": current["metadata"].get("resourceVersion")}
    if kind == "Ingress":
        entry, host = manifests.ingress_path(shell), shell["spec"].get("ingressConfig", {}).get("host")
        rules = [dict(rule) for rule in current.get("spec", {}).get("rules", [])]
        rule = next((r for r in rules if r.get("host") == host), None)
        if rule is None:
            rule = {"http": {"paths": []}, **({"host": host} if host else {})}
            rules.append(rule)
        paths = rule.get("http", {}).get("paths", [])
        if entry in paths:
            return None
        if any(p.get("path") == entry["path"] and _backend(p) != _backend(entry) for p in paths):
            raise _path_taken(kind, name, entry["path"])
        rule["http"] = {"paths": [*(p for p in paths if p.get("path") != entry["path"]), entry]}
        return {"metadata": rv, "spec": {"rules": rules}}
    entry = manifests.virtual_service_route(shell)
    routes = current.get("spec", {}).get("http", [])
    if entry in routes:
        return None
    kept = [r for r in routes if r.get("name") != entry["name"]]
    if any(r.get("match") == entry["match"] for r in kept):
        raise _path_taken(kind, name, _prefix(entry))
    # Istio takes the first route whose prefix matches, as a string: /…/s1 before /…/s10 would take
    # s10's requests. Longer first (stable) gives each shell its own, as an Ingress's Prefix paths do.
    return {"metadata": rv, "spec": {"http": sorted([*kept, entry], key=lambda r: -len(_prefix(r)))}}


def without_entry(shell: dict[str, Any], kind: str, current: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """(a merge patch removing this shell's entry from ``current``, or None if absent; whether nothing would remain)."""
    if not managed(current):
        return None, False  # not the operator's: the shell was refused an entry there, and it is never touched
    rv = {"resourceVersion": current["metadata"].get("resourceVersion")}
    if kind == "Ingress":
        backend = names.object_name(shell)
        rules = []
        for rule in current.get("spec", {}).get("rules", []):
            paths = [p for p in rule.get("http", {}).get("paths", [])
                     if p.get("backend", {}).get("service", {}).get("name") != backend]  # fmt: skip
            if paths:
                rules.append({**rule, "http": {"paths": paths}})
        if not rules:
            return None, True
        changed = rules != current.get("spec", {}).get("rules", [])
        return ({"metadata": rv, "spec": {"rules": rules}} if changed else None), False
    name = manifests.virtual_service_route(shell)["name"]
    routes = current.get("spec", {}).get("http", [])
    kept = [r for r in routes if r.get("name") != name]
    if not kept:
        return None, True
    return ({"metadata": rv, "spec": {"http": kept}} if kept != routes else None), False


def _check_joins(shell: dict[str, Any], kind: str, current: dict[str, Any]) -> None:
    """InvalidShell unless ``current`` is the operator's and has what this shell asks for, or leaves empty,
    of the settings that act on every entry (the first shell's; an Ingress's host: the shell's URL)."""
    name, spec = current["metadata"]["name"], current.get("spec", {})
    field = "spec.ingressConfig" if kind == "Ingress" else "spec.virtualServiceConfig"
    if not managed(current):
        named = "ingressName" if kind == "Ingress" else "virtualServiceName"
        raise InvalidShell(f"{field}.{named}", f"{kind} {name!r} was not created by the operator; name another")
    if kind == "Ingress":
        config = shell["spec"].get("ingressConfig", {})
        asked, has = config.get("ingressClassName"), spec.get("ingressClassName")
        if asked and asked != has:
            raise _differs(field, "ingressClassName", kind, name, f"class {has!r}" if has else "no class")
        hosts = [rule.get("host") for rule in spec.get("rules", [])]
        if hosts and config.get("host") not in hosts:
            shown = ", ".join(f"host {host!r}" if host else "no host" for host in hosts)
            raise _differs(field, "host", kind, name, shown, may_be_empty=False)  # the host is in the shell's URL
        return
    config = shell["spec"]["virtualServiceConfig"]
    if config["gateway"] not in spec.get("gateways", []):
        raise _differs(field, "gateway", kind, name, f"gateways {spec.get('gateways', [])}")
    if config.get("export_to") and [config["export_to"]] != spec.get("exportTo"):
        raise _differs(field, "export_to", kind, name, f"exportTo {spec.get('exportTo', [])}")


def _differs(field: str, key: str, kind: str, name: str, has: str, may_be_empty: bool = True) -> InvalidShell:
    choices = "ask for that, leave it empty" if may_be_empty else "ask for that"
    return InvalidShell(f"{field}.{key}", f"{kind} {name!r}, shared by shells, has {has}; {choices} or name another")


def _path_taken(kind: str, name: str, path: str) -> InvalidShell:
    return InvalidShell("spec.pathPrefix", f"{kind} {name!r} routes {path!r} to another shell; choose another path")


def _backend(path: dict[str, Any]) -> Any:
    return path.get("backend", {}).get("service", {}).get("name")


def _prefix(route: dict[str, Any]) -> str:
    return str((((route.get("match") or [{}])[0]).get("uri") or {}).get("prefix", ""))


def serves_https(shell: dict[str, Any], ingress: dict[str, Any] | None) -> bool:
    """Whether the shared Ingress terminates TLS for this shell's host (its URL is then https)."""
    host = shell.get("spec", {}).get("ingressConfig", {}).get("host")
    return any(host in tls.get("hosts", []) for tls in (ingress or {}).get("spec", {}).get("tls", []) or [])
