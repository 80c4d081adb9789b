"""A shell's entry in a shared route: a path in a shared Ingress, a route in a shared VirtualService (pure).

Several shells share one Ingress (or VirtualService); each owns one entry in it. Adding or removing
an entry is a merge patch guarded by the object's resourceVersion, so that of two shells editing
it at once, one is refused (409) and does its edit again on the newer copy. The reconciler makes
the requests; this module only says what they carry.
"""

from __future__ import annotations

from typing import Any

from jupyter_cloudtty.cloudshell import names

from . import manifests

KINDS = ("Ingress", "VirtualService")

RouteKey = tuple[str, str, str]  # (kind, namespace, name)


def shared_route(shell: dict[str, Any]) -> RouteKey | None:
    """The shared object this shell has an entry in, by its exposure mode (InvalidShell if its config is wrong)."""
    mode = shell.get("spec", {}).get("exposureMode", "NodePort")
    if mode == "Ingress":
        return ("Ingress", *manifests.ingress_name(shell))
    if mode == "VirtualService":
        return ("VirtualService", *manifests.virtual_service_name(shell))
    return None


def fresh(shell: dict[str, Any], kind: str) -> dict[str, Any]:
    """The shared object as the first shell creates it: with this shell's entry only."""
    if kind == "Ingress":
        return manifests.ingress(shell, [manifests.ingress_path(shell)])
    return manifests.virtual_service(shell, [manifests.virtual_service_route(shell)])


def with_entry(shell: dict[str, Any], kind: str, current: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch adding this shell's entry to ``current`` (guarded by its resourceVersion), or None if present."""
    rv = {"resourceVersion": current["metadata"].get("resourceVersion")}
    if kind == "Ingress":
        entry, host = manifests.ingress_path(shell), shell["spec"].get("ingressConfig", {}).get("host")
        rules = [dict(rule) for rule in current.get("spec", {}).get("rules", [])]
        rule = next((r for r in rules if r.get("host") == host), None)
        if rule is None:
            rule = {"http": {"paths": []}, **({"host": host} if host else {})}
            rules.append(rule)
        if entry in rule.get("http", {}).get("paths", []):
            return None
        paths = [p for p in rule.get("http", {}).get("paths", []) if p.get("path") != entry["path"]]
        rule["http"] = {"paths": [*paths, entry]}
        return {"metadata": rv, "spec": {"rules": rules}}
    entry = manifests.virtual_service_route(shell)
    routes = current.get("spec", {}).get("http", [])
    if entry in routes:
        return None
    return {"metadata": rv, "spec": {"http": [r for r in routes if r.get("name") != entry["name"]] + [entry]}}


def without_entry(shell: dict[str, Any], kind: str, current: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """(a merge patch removing this shell's entry from ``current``, or None if absent; whether nothing would remain)."""
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


def serves_https(shell: dict[str, Any], ingress: dict[str, Any] | None) -> bool:
    """Whether the shared Ingress terminates TLS for this shell's host (its URL is then https)."""
    host = shell.get("spec", {}).get("ingressConfig", {}).get("host")
    return any(host in tls.get("hosts", []) for tls in (ingress or {}).get("spec", {}).get("tls", []) or [])
