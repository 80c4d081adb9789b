"""A shell as every backend reports it: phase, conditions, times (Kubernetes' spelling). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class Phase:
    """Values of ``status.phase`` (CloudTTY's spelling: ``Complete``, not ``Completed``)."""

    PENDING = ""
    CREATED_JOB = "CreatedJob"
    CREATED_ROUTE_RULE = "CreatedRouteRule"
    READY = "Ready"
    COMPLETE = "Complete"
    FAILED = "Failed"
    ENDED = (COMPLETE, FAILED)


def now() -> datetime:
    return datetime.now(timezone.utc)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes times."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    """A Kubernetes timestamp (as ``timestamp`` writes it; fractions of a second allowed), or None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def condition(kind: str, status: bool, reason: str, message: str, at: datetime) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": timestamp(at),
    }


@dataclass
class Shell:
    """What every backend reports for a shell, and what the REST API returns."""

    name: str
    spec: dict[str, Any]
    created: datetime
    phase: str = Phase.PENDING
    access_url: str = ""
    last_schedule_time: datetime | None = None
    conditions: list[dict[str, str]] = field(default_factory=list)
    # "Pool" or "Cold" where the operator keeps a warm pool; "" elsewhere (and on the local backend).
    start: str = ""
    # Its terminal is recorded (the create request's "record", or the server records every shell).
    record: bool = False
    # The pod that serves a cluster shell, and how many times the operator replaced a lost one.
    pod_name: str = ""
    restarts: int = 0

    @property
    def ended(self) -> bool:
        return self.phase in Phase.ENDED

    def to_json(self) -> dict[str, Any]:
        status: dict[str, Any] = {"phase": self.phase}
        if self.access_url:
            status["accessUrl"] = self.access_url
        if self.last_schedule_time:
            status["lastScheduleTime"] = timestamp(self.last_schedule_time)
        if self.conditions:
            status["conditions"] = self.conditions
        if self.start:
            status["start"] = self.start
        if self.pod_name:
            status["podName"] = self.pod_name
        if self.restarts:
            status["restarts"] = self.restarts
        return {
            "name": self.name,
            "created": timestamp(self.created),
            "spec": self.spec,
            "record": self.record,
            "status": status,
        }
