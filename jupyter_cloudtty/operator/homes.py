"""Users' homes: which home claim no shell has used for longer than the administrator keeps one (pure).

A home (``manifests.home_claim``) outlives shells by design; ``home.retentionDays`` bounds how long
an unused one takes storage (and quota). Its ``last-used`` stamp is written each time a shell starts
with it; a claim a pod still mounts is never taken, however old its stamp (a shell can run for
longer than the retention).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable

from jupyter_cloudtty.cloudshell.model import parse_time

from .manifests import HOME_LAST_USED


def mounted(claim: str, pods: Iterable[dict[str, Any]]) -> bool:
    """Whether a pod that may still run mounts ``claim``."""
    for pod in pods:
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for volume in pod.get("spec", {}).get("volumes") or []:
            if (volume.get("persistentVolumeClaim") or {}).get("claimName") == claim:
                return True
    return False


def unused_past(claim: dict[str, Any], pods: Iterable[dict[str, Any]], now: datetime, days: int) -> bool:
    """Whether the home ``claim`` is to go: stamped longer than ``days`` ago and mounted by no pod."""
    meta = claim.get("metadata", {})
    used = parse_time((meta.get("annotations") or {}).get(HOME_LAST_USED))
    if not days or used is None or now - used < timedelta(days=days):
        return False
    return not mounted(meta.get("name", ""), pods)
