"""What a failed call to the API server means, in words users understand (pure; no resource named).

The wording about what was asked (CloudShells, a Role to grant, a CRD to install) is the caller's;
what any request can meet is here: an API server that does not answer, sheds load, fails, or does
not accept the credentials.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError, MaxRetryError
from urllib3.exceptions import TimeoutError as NoAnswer

from . import backoff


def status(e: ApiException) -> dict[str, Any]:
    """The Status object the API server answered with (``{}`` if the body is not one)."""
    try:
        body = json.loads(e.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def api_message(e: ApiException) -> str:
    """The API server's own words for a refusal (its Status message), else the HTTP reason."""
    return status(e).get("message") or e.reason or "no message"


def describe(e: BaseException) -> str:
    """A failure in a log line: an API error's status and the server's words, else the exception."""
    if isinstance(e, ApiException):
        return f"{e.status} {api_message(e)}"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def retry_after(e: ApiException) -> float:
    """A 429's Retry-After (seconds), else 0."""
    return backoff.retry_after(e) if e.status == 429 else 0.0


def namespace_terminating(e: ApiException) -> bool:
    """Refused because the namespace is being deleted: what was to be made there goes with it anyway."""
    causes = (status(e).get("details") or {}).get("causes") or []
    return any(isinstance(c, dict) and c.get("reason") == "NamespaceTerminating" for c in causes)


def transient(e: BaseException) -> bool:
    """A failure that goes away by itself: overloaded (429), failing (5xx), unreachable or silent."""
    if isinstance(e, ApiException):
        return e.status == 429 or (e.status or 0) >= 500
    return isinstance(e, HTTPError)


def unreachable(host: str, e: BaseException, timeout: float | None = None) -> str:
    """The API server did not answer: refused, dropped, or silent for ``timeout`` seconds."""
    cause = e.reason if isinstance(e, MaxRetryError) and e.reason is not None else e
    if isinstance(cause, NoAnswer):
        within = f" within {timeout:g}s" if timeout else ""
        return f"the Kubernetes API at {host} did not answer{within}; try again later"
    return f"cannot reach the Kubernetes API at {host}: {cause}"


def too_busy(e: ApiException) -> str:
    """A 429 (API Priority and Fairness: the API server sheds load), and when to come back."""
    wait = retry_after(e)
    later = f"try again in {wait:g}s" if wait else "try again later"
    return f"the Kubernetes API is too busy to answer ({api_message(e)}); {later}"


def not_accepted(e: ApiException, whose: str) -> str:
    """A 401: the credentials (``whose``: e.g. "this Jupyter server's") are unknown or expired."""
    return f"the cluster did not accept {whose} credentials: {api_message(e)}"


def failed(e: ApiException) -> str:
    """Any other error answer: a failing API server (5xx, try again), or its status and words."""
    if (e.status or 0) >= 500:
        return f"the Kubernetes API failed ({e.status}: {api_message(e)}); try again later"
    return f"the Kubernetes API failed ({e.status}): {api_message(e)}"
