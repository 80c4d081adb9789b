"""Tables for notebook output: HTML with a plain-text fallback, and ``%kubectl get``'s columns (pure).

``server_table`` shows the table the API server rendered (``as=Table``: its column definitions and
cells, as kubectl shows them); that is what a plain ``%kubectl get`` reads. ``resource_tables`` is the
fallback, for what ``kubectl get -o json`` prints when no server table is at hand (kubectl ran: exec
credentials, several kinds, ``direct_get = False``; or a server that answers JSON only): the columns
kubectl shows for the common kinds (pods, deployments, services, ...; NAME and AGE for any other).
Either way the table keeps the objects (``.items``) for code.
"""

from __future__ import annotations

import datetime
import html
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

Row = Sequence[str]


@dataclass
class Table:
    """Rows under a header; in a notebook an HTML table, elsewhere kubectl-style aligned text."""

    columns: Sequence[str]
    rows: list[Row]
    title: str = ""
    items: list[dict[str, Any]] = field(default_factory=list, repr=False)
    empty: str = "No resources found."

    def text(self) -> str:
        if not self.rows:
            return self.empty
        widths = [max(len(str(cell)) for cell in column) for column in zip(self.columns, *self.rows, strict=True)]
        lines = [
            "   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [self.columns, *self.rows]
        ]
        return "\n".join(([self.title] if self.title else []) + lines)

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<p>{html.escape(self.empty)}</p>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in self.rows
        )
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f'<table class="cloudtty-table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())


@dataclass
class Tables:
    """Several tables shown one after the other (``kubectl get pods,services``: one per kind)."""

    tables: list[Table]

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for table in self.tables for item in table.items]

    def text(self) -> str:
        return "\n\n".join(table.text() for table in self.tables)

    def _repr_html_(self) -> str:
        return "".join(table._repr_html_() for table in self.tables)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())


# --- the API server's table -------------------------------------------------------------------------


def server_table(table: dict[str, Any], all_namespaces: bool = False, wide: bool = False) -> Table:
    """The API server's table (meta.k8s.io/v1 ``Table``) as kubectl prints it: the columns of priority 0
    (all of them if ``wide``), names upper-cased, NAMESPACE first if ``all_namespaces``; ``.items`` are
    the rows' objects."""
    definitions = table.get("columnDefinitions") or []
    shown = [i for i, column in enumerate(definitions) if wide or not column.get("priority")]
    rows: list[Row] = []
    items: list[dict[str, Any]] = []
    for row in table.get("rows") or []:
        cells, obj = row.get("cells") or [], row.get("object") or {}
        lead = [_get(obj, "metadata", "namespace", default="")] if all_namespaces else []
        rows.append([*lead, *(cell_text(cells[i]) if i < len(cells) else "" for i in shown)])
        items.append(obj)
    names = [str(definitions[i].get("name") or "").upper() for i in shown]
    return Table([*(["NAMESPACE"] if all_namespaces else []), *names], rows, items=items)


def cell_text(cell: Any) -> str:
    """A cell as kubectl prints it: nothing for null, a string up to its first line break (then ``...``)."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, str):
        for i, char in enumerate(cell):
            if char in "\n\r\f":
                return cell[:i] + "..."
        return cell
    return str(cell)


# --- kubectl's columns -------------------------------------------------------------------------------


def age(timestamp: str | None, now: datetime.datetime | None = None) -> str:
    """kubectl's AGE: ``45s``, ``3m12s``, ``5h10m``, ``2d3h``, ``<unknown>`` (k8s.io/apimachinery HumanDuration)."""
    if not timestamp:
        return "<unknown>"
    then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return human_duration((now - then).total_seconds())


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _get(obj: dict, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def _created(obj: dict, now: datetime.datetime | None) -> str:
    return age(_get(obj, "metadata", "creationTimestamp"), now)


def pod_status(pod: dict) -> str:
    """The STATUS kubectl shows for a pod: a waiting or terminated reason, Terminating, else the phase."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    init = status.get("initContainerStatuses") or []
    for i, container in enumerate(init):
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            reason = "Init:" + (terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(_get(pod, 'spec', 'initContainers', default=[]) or init)}"
        break
    else:
        running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode')}"
            elif container.get("ready") and "running" in state:
                running = True
        if reason == "Completed" and running:
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
            reason = "Running" if ready else "NotReady"
    if _get(pod, "metadata", "deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def _pod(pod: dict, now: datetime.datetime | None) -> list[str]:
    containers = _get(pod, "status", "containerStatuses", default=[]) or []
    total = len(_get(pod, "spec", "containers", default=[]) or containers)
    ready = sum(1 for c in containers if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    last = max(
        (_get(c, "lastState", "terminated", "finishedAt") or "" for c in containers if c.get("restartCount")),
        default="",
    )
    restarts_text = f"{restarts} ({age(last, now)} ago)" if restarts and last else str(restarts)
    return [f"{ready}/{total}", pod_status(pod), restarts_text, _created(pod, now)]


def _deployment(obj: dict, now: datetime.datetime | None) -> list[str]:
    status = obj.get("status") or {}
    wanted = _get(obj, "spec", "replicas", default=1)
    return [
        f"{status.get('readyReplicas', 0)}/{wanted}",
        str(status.get("updatedReplicas", 0)),
        str(status.get("availableReplicas", 0)),
        _created(obj, now),
    ]


def _service(obj: dict, now: datetime.datetime | None) -> list[str]:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    ingress = _get(obj, "status", "loadBalancer", "ingress", default=[]) or []
    external = [i.get("ip") or i.get("hostname") for i in ingress] + list(spec.get("externalIPs") or [])
    if kind == "ExternalName":
        external = [spec.get("externalName", "")]
    ports = ",".join(
        f"{p['port']}" + (f":{p['nodePort']}" if p.get("nodePort") else "") + f"/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    return [
        kind,
        spec.get("clusterIP") or "<none>",
        ",".join(e for e in external if e) or ("<pending>" if kind == "LoadBalancer" else "<none>"),
        ports or "<none>",
        _created(obj, now),
    ]


def _node(obj: dict, now: datetime.datetime | None) -> list[str]:
    conditions = _get(obj, "status", "conditions", default=[]) or []
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
    status = {"True": "Ready", "False": "NotReady"}.get(ready or "", "Unknown")
    if _get(obj, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    labels = _get(obj, "metadata", "labels", default={}) or {}
    roles = sorted(key[len(prefix) :] for key in labels if key.startswith(prefix))
    version = _get(obj, "status", "nodeInfo", "kubeletVersion", default="")
    return [status, ",".join(roles) or "<none>", _created(obj, now), version]


def _job(obj: dict, now: datetime.datetime | None) -> list[str]:
    status = obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    state = next((c for c in ("Complete", "Failed") if conditions.get(c) == "True"), "Running")
    return [state, f"{status.get('succeeded', 0)}/{_get(obj, 'spec', 'completions', default=1)}", _created(obj, now)]


def _data(obj: dict, now: datetime.datetime | None) -> list[str]:
    return [str(len(obj.get("data") or {}) + len(obj.get("binaryData") or {})), _created(obj, now)]


def _secret(obj: dict, now: datetime.datetime | None) -> list[str]:
    return [obj.get("type", "Opaque"), *_data(obj, now)]


def _namespace(obj: dict, now: datetime.datetime | None) -> list[str]:
    return [_get(obj, "status", "phase", default=""), _created(obj, now)]


def _cloudshell(obj: dict, now: datetime.datetime | None) -> list[str]:
    """The CloudShell CRD's printer columns (operator/crd.yaml)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        spec.get("runAsUser", ""),
        spec.get("commandAction", ""),
        spec.get("exposureMode", ""),
        status.get("accessUrl", ""),
        status.get("phase", ""),
        _created(obj, now),
    ]


Columns = tuple[list[str], Callable[[dict, "datetime.datetime | None"], list[str]]]
COLUMNS: dict[str, Columns] = {
    "Pod": (["READY", "STATUS", "RESTARTS", "AGE"], _pod),
    "Deployment": (["READY", "UP-TO-DATE", "AVAILABLE", "AGE"], _deployment),
    "Service": (["TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], _service),
    "Node": (["STATUS", "ROLES", "AGE", "VERSION"], _node),
    "Job": (["STATUS", "COMPLETIONS", "AGE"], _job),
    "ConfigMap": (["DATA", "AGE"], _data),
    "Secret": (["TYPE", "DATA", "AGE"], _secret),
    "Namespace": (["STATUS", "AGE"], _namespace),
    "CloudShell": (["USER", "COMMAND", "TYPE", "URL", "PHASE", "AGE"], _cloudshell),
}
DEFAULT: Columns = (["AGE"], lambda obj, now: [_created(obj, now)])


def _kind_name(obj: dict) -> str:
    """kubectl's ``kind.group`` prefix of names when several kinds are shown: ``pod``, ``deployment.apps``."""
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    kind = (obj.get("kind") or "").lower()
    return f"{kind}.{group}" if group else kind


def resource_tables(
    document: dict[str, Any],
    all_namespaces: bool = False,
    show_kind: bool = False,
    now: datetime.datetime | None = None,
) -> Table | Tables:
    """The table(s) ``kubectl get`` shows for ``document`` (one object, or a List as ``-o json`` prints it).

    One table per kind, in order of first appearance; with several kinds (or ``show_kind``: several
    were asked for), names are prefixed with the kind as kubectl does (``pod/web``); a NAMESPACE
    column first when ``all_namespaces``.
    """
    items = document.get("items") if "items" in document else [document]
    items = [item for item in items or [] if isinstance(item, dict)]
    kinds: dict[str, list[dict]] = {}
    for item in items:
        kinds.setdefault(item.get("kind") or "", []).append(item)
    several = show_kind or len(kinds) > 1
    tables = [_kind_table(objs, several, all_namespaces, now) for objs in kinds.values()]
    if not tables:
        return Table(["NAME"], [], items=[])
    return tables[0] if len(tables) == 1 else Tables(tables)


def _kind_table(objs: list[dict], prefixed: bool, all_namespaces: bool, now: datetime.datetime | None) -> Table:
    names, cells = COLUMNS.get(objs[0].get("kind") or "", DEFAULT)
    rows: list[Row] = []
    for obj in objs:
        name = _get(obj, "metadata", "name", default="")
        if prefixed:
            name = f"{_kind_name(obj)}/{name}"
        lead = [_get(obj, "metadata", "namespace", default="")] if all_namespaces else []
        rows.append([*lead, name, *cells(obj, now)])
    return Table([*(["NAMESPACE"] if all_namespaces else []), "NAME", *names], rows, items=objs)


def shells_table(shells: Iterable[dict[str, Any]], now: datetime.datetime | None = None) -> Table:
    """``%cloudtty list``: the REST API's shells with their phase (``""`` shows as ``Pending``)."""
    rows: list[Row] = []
    shells = list(shells)
    for shell in shells:
        spec, status = shell.get("spec") or {}, shell.get("status") or {}
        ttl = spec.get("ttlSecondsAfterStarted", spec.get("ttl"))
        rows.append(
            [
                shell.get("name", ""),
                status.get("phase") or "Pending",
                spec.get("commandAction") or "(login shell)",
                f"{ttl}s" if ttl else "",
                age(shell.get("created"), now),
            ]
        )
    return Table(["NAME", "PHASE", "COMMAND", "TTL", "AGE"], rows, items=shells, empty="No shells.")
