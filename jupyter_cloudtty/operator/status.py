"""A CloudShell's next status from what the cluster shows (pure: no I/O).

Ready means the pod is Running and Ready (its probe reached ttyd), the Service has a ready
endpoint, and, in GatewayAPI mode, the Gateway accepted the route; not before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

from jupyter_cloudtty.cloudshell import names
from jupyter_cloudtty.cloudshell.model import Phase, condition, parse_time, timestamp
from jupyter_cloudtty.cloudshell.spec import ttl_seconds

from . import manifests
from .settings import Settings

WAITING = "; waiting for a new one"  # the end of a Restarted condition's message while a new pod starts
# Container states that will not fix themselves.
STUCK = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"}


@dataclass
class Observed:
    """What the reconciler read about one shell."""

    job: dict[str, Any] | None = None
    pods: list[dict[str, Any]] = field(default_factory=list)
    endpoint_slices: list[dict[str, Any]] = field(default_factory=list)
    service: dict[str, Any] | None = None
    nodes: list[dict[str, Any]] = field(default_factory=list)
    route: dict[str, Any] | None = None  # the HTTPRoute, in GatewayAPI mode
    ingress_https: bool = False
    unmountable: str | None = None  # why the kubeconfig cannot be mounted (a FailedMount Event of its pod)
    start: tuple[bool, str, str] | None = None  # (in a pool pod, reason, message): the operator's choice


@dataclass(frozen=True)
class Verdict:
    phase: str
    reason: str
    message: str


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for found in (obj or {}).get("status", {}).get("conditions", []) or []:
        if found.get("type") == kind:
            return found
    return None


def _true(condition: dict[str, Any] | None) -> bool:
    return bool(condition) and condition.get("status") == "True"


def finished(job: dict[str, Any]) -> bool:
    """The Job has ended (Complete or Failed): it runs nothing more."""
    return _true(_condition(job, "Complete")) or _true(_condition(job, "Failed"))


def endpoint_ready(slices: list[dict[str, Any]]) -> bool:
    return any(
        (endpoint.get("conditions") or {}).get("ready") is True
        for endpoint_slice in slices
        for endpoint in endpoint_slice.get("endpoints") or []
    )


def route_acceptance(route: dict[str, Any] | None) -> tuple[bool | None, str]:
    """(True/False once a Gateway has spoken, None before; its reason and message)."""
    for parent in (route or {}).get("status", {}).get("parents", []) or []:
        for said in parent.get("conditions", []) or []:
            if said.get("type") == "Accepted" and said.get("status") in ("True", "False"):
                return said["status"] == "True", f"{said.get('reason', '')}: {said.get('message', '')}"
    return None, ""


def verdict(shell: dict[str, Any], observed: Observed, now: datetime, starting: str = Phase.PENDING) -> Verdict:
    """Where the shell stands: ended (Complete/Failed), Ready, or still ``starting`` (a phase)."""
    spec, status = shell.get("spec", {}), shell.get("status", {})
    ttl = ttl_seconds(spec)
    failed = _condition(observed.job, "Failed")
    if _true(failed):
        if failed.get("reason") == "DeadlineExceeded" and ttl:
            return Verdict(Phase.COMPLETE, "Expired", f"its TTL of {ttl}s ran out")
        if (idle := _idle_end(observed.pods)) is not None:
            return Verdict(Phase.COMPLETE, "IdleTimeout", idle)
        return Verdict(Phase.FAILED, failed.get("reason") or "JobFailed", failed.get("message") or "the Job failed")
    if _true(_condition(observed.job, "Complete")) or (observed.job or {}).get("status", {}).get("succeeded"):
        if spec.get("once"):
            return Verdict(Phase.COMPLETE, "OnceEnded", "its one client left")
        return Verdict(Phase.COMPLETE, "Exited", "the command exited")
    if observed.unmountable:  # the pod would wait forever: only this Event says why
        return Verdict(
            Phase.FAILED, "KubeconfigNotMounted", f"the kubeconfig cannot be mounted: {observed.unmountable}"
        )
    if (unrecorded := _not_recorded(observed.pods)) is not None:
        return Verdict(Phase.FAILED, "NotRecorded", unrecorded)
    for pod in observed.pods:
        for container in _containers(pod):
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK:
                return Verdict(Phase.FAILED, waiting["reason"], waiting.get("message") or waiting["reason"])
    started = parse_time(status.get("lastScheduleTime"))
    if ttl and started and (now - started).total_seconds() >= ttl:
        return Verdict(Phase.COMPLETE, "Expired", f"its TTL of {ttl}s ran out")
    accepted, why = route_acceptance(observed.route)
    if spec.get("exposureMode") == "GatewayAPI" and accepted is False:
        return Verdict(Phase.FAILED, "RouteNotAccepted", f"the Gateway refused the route: {why}")
    pod_ready = any(
        pod.get("status", {}).get("phase") == "Running" and _true(_condition(pod, "Ready")) for pod in observed.pods
    )
    waiting_for = [
        what
        for what, done in (
            ("the pod to be ready", pod_ready),
            ("a ready endpoint of the Service", endpoint_ready(observed.endpoint_slices)),
            ("the Gateway to accept the route", accepted or spec.get("exposureMode") != "GatewayAPI"),
        )
        if not done
    ]
    if waiting_for:
        serving = status.get("podName")
        if serving and not any(_name(pod) == serving and _running(pod) for pod in observed.pods):
            _, why = lost_because(next((pod for pod in observed.pods if _name(pod) == serving), None))
            return Verdict(starting, "PodLost", f"its pod {serving} is gone ({why}); waiting for a new one")
        return Verdict(starting, "Starting", "waiting for " + ", ".join(waiting_for))
    return Verdict(Phase.READY, "Ready", "the terminal is reachable")


def _name(pod: dict[str, Any]) -> str:
    return pod.get("metadata", {}).get("name", "")


def _running(pod: dict[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and not pod.get("metadata", {}).get("deletionTimestamp")


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The statuses of the pod's containers, its init containers' first (the recorder is one, a native sidecar)."""
    status = pod.get("status", {})
    for key in ("initContainerStatuses", "containerStatuses"):
        yield from status.get(key) or []


def _terminated(pod: dict[str, Any], name: str = manifests.CONTAINER, state: str = "state") -> dict[str, Any] | None:
    """How the pod's container ``name`` ended, as its ``state`` says (``lastState``: its run before a
    restart): that state's ``terminated``, None if it is not one (or there is no such container)."""
    for container in _containers(pod):
        if container.get("name") == name:
            return (container.get(state) or {}).get("terminated")
    return None


def _idle_end(pods: list[dict[str, Any]]) -> str | None:
    """The idle rule's words, if it ended the shell's pod (its exit code says so)."""
    for pod in pods:
        ended = _terminated(pod) or {}
        if ended.get("exitCode") == manifests.IDLE_EXIT_CODE:
            return (ended.get("message") or "").strip() or "no input or output for its idle timeout"
    return None


def _not_recorded(pods: list[dict[str, Any]]) -> str | None:
    """Why a live pod's recorder stopped, if it did: a shell whose recorder ever ends does not go on.

    It ends with 73 and its words when it cannot write its folder or listen (before it listens), and
    with anything else when it dies (out of memory, killed): restarted, it would have left the pod's
    port free for a while, and a process of the shell could have taken it. So any end of the recorder
    of a pod that is not itself ending fails the shell (its Job is released, the pod with it)."""
    for pod in pods:
        status = pod.get("status", {})
        if pod.get("metadata", {}).get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
            continue  # a pod that ends stops its recorder too
        for state in ("state", "lastState"):
            ended = _terminated(pod, manifests.RECORDER, state)
            if ended is None:
                continue
            said = (ended.get("message") or "").strip()
            if ended.get("exitCode") == manifests.NOT_RECORDED_EXIT:
                return said or "not recorded: the recorder cannot write its folder"
            why = f" ({said.splitlines()[-1]})" if said else ""
            return (f"not recorded: its recorder stopped (exit code {ended.get('exitCode')}, {ended.get('reason')})"
                    f"{why}, so its sessions would no longer be recorded")  # fmt: skip
    return None


def _records(shell: dict[str, Any], observed: Observed, settings: Settings) -> bool:
    """Whether the shell's sessions are recorded in its pod: its Job's pods have the recorder (a policy
    or an annotation changed since does not change a running pod); before its Job, the policy's word."""
    if observed.job is None:
        return manifests.recorded(shell, settings)
    template = observed.job.get("spec", {}).get("template", {}).get("spec", {})
    return any(c.get("name") == manifests.RECORDER for c in template.get("initContainers") or [])


def lost_because(pod: dict[str, Any] | None) -> tuple[str, str]:
    """(reason, words) for why a shell's pod went, as far as what is left of it says: a disruption
    (eviction, drain, node gone), its container's end, or, with nothing left of it, a deletion."""
    if pod is None:
        return "PodDeleted", "deleted"
    disruption = _condition(pod, "DisruptionTarget")
    if _true(disruption):
        reason = disruption.get("reason") or "Disrupted"
        return reason, f"{reason}: {disruption.get('message')}" if disruption.get("message") else reason
    ended = _terminated(pod)
    if ended:
        signal = f", signal {ended['signal']}" if ended.get("signal") else ""
        return "ContainerExited", f"its container ended with exit code {ended.get('exitCode')}{signal}"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return "PodDeleted", "being deleted"
    return "PodLost", "it stopped"


def url_for(shell: dict[str, Any], observed: Observed, settings: Settings) -> str | None:
    """The access URL by exposure mode (see the spec); None while it cannot be known."""
    spec = shell.get("spec", {})
    service_spec = (observed.service or {}).get("spec", {})
    ports = service_spec.get("ports") or [{}]
    host, https = None, False
    if spec.get("exposureMode") == "Ingress":
        host, https = spec.get("ingressConfig", {}).get("host"), observed.ingress_https
    elif spec.get("exposureMode") == "GatewayAPI" and settings.gateway:
        host, https = settings.gateway.hostname, settings.gateway.https
    return manifests.access_url(
        spec,
        names.route_path(shell),
        cluster_ip=service_spec.get("clusterIP"),
        node_address=manifests.node_address(observed.nodes),
        node_port=ports[0].get("nodePort"),
        host=host,
        https=https,
    )


def with_effective_ttl(shell: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``shell`` with the TTL it gets (``manifests.effective_ttl``) as its ttlSecondsAfterStarted."""
    spec = shell.get("spec", {})
    ttl = manifests.effective_ttl(spec, settings)
    return shell if ttl == ttl_seconds(spec) else {**shell, "spec": {**spec, "ttlSecondsAfterStarted": ttl}}


def next_status(
    shell: dict[str, Any], observed: Observed, settings: Settings, now: datetime, starting: str = Phase.PENDING
) -> dict[str, Any]:
    """The status to write: phase, accessUrl, lastScheduleTime, podName, restarts, conditions, observedGeneration.

    ``starting`` is the phase reached so far (CreatedJob, CreatedRouteRule) while not Ready.
    """
    current = shell.get("status") or {}
    if current.get("phase") in Phase.ENDED:
        return current  # an ended shell's status is final
    lived = with_effective_ttl(shell, settings)  # the TTL it gets, in the verdict and the URL
    result = verdict(lived, observed, now, starting)
    status: dict[str, Any] = {"phase": result.phase}
    url = url_for(lived, observed, settings) if result.phase == Phase.READY else current.get("accessUrl")
    if result.phase == Phase.READY and not url:
        result = Verdict(starting, "Starting", "waiting for an address to reach it")
        status["phase"] = result.phase
    if url:
        status["accessUrl"] = url
    started = current.get("lastScheduleTime") or (timestamp(now) if result.phase == Phase.READY else None)
    if started:
        status["lastScheduleTime"] = started
    conditions = [condition_since(current, "Ready", result.phase == Phase.READY, result.reason, result.message, now)]
    _follow_the_pod(current, status, conditions, observed, result, now)
    if result.phase == Phase.FAILED:
        conditions.append(condition_since(current, "Failed", True, result.reason, result.message, now))
    if result.phase not in Phase.ENDED:
        _refused(shell, observed, settings, current, conditions, now)
    _, ignored = manifests.kubeconfig_source(shell.get("spec", {}), settings)
    if ignored and result.phase not in Phase.ENDED:  # said, not silently dropped
        conditions.append(condition_since(current, "KubeconfigIgnored", True, "FeatureGate", ignored, now))
    _started(current, status, conditions, observed, now)
    if _records(shell, observed, settings) and result.phase != Phase.FAILED:
        # Said where its user and `kubectl describe` look: every session of this shell is recorded.
        policy = settings.recording
        why = "every shell is" if policy.mode == "required" else "it asked to be (jupyter-cloudtty.io/record)"
        message = f"its sessions are recorded in its pod, to {policy.claim_name}: {why}"
        conditions.append(condition_since(current, "Recorded", True, "RecordingPolicy", message, now))
    status["conditions"] = conditions
    if "generation" in shell.get("metadata", {}):
        status["observedGeneration"] = shell["metadata"]["generation"]
    return status


def _follow_the_pod(
    current: dict[str, Any],
    status: dict[str, Any],
    conditions: list,
    observed: Observed,
    result: Verdict,
    now: datetime,
) -> None:
    """Which pod serves the shell (``podName``), and a Restarted condition: False from when that pod is
    lost (its reason said while what is left of the pod still shows it), True once a new one serves,
    with ``restarts`` counting them."""
    serving, restarts = current.get("podName"), current.get("restarts", 0)
    restarted = next((c for c in current.get("conditions", []) if c.get("type") == "Restarted"), None)
    old = next((pod for pod in observed.pods if _name(pod) == serving), None)
    # What is said of the lost pod: from what is left of it, else (gone by now) as it was said while it went.
    said_while_going = old is None and restarted is not None and restarted.get("status") == "False"
    if result.reason == "PodLost" and not said_while_going:
        reason, why = lost_because(old)
        message = f"its pod {serving} was lost ({why}){WAITING}"
        restarted = condition_since(current, "Restarted", False, reason, message, now)
    elif result.phase == Phase.READY:
        ready = next((_name(pod) for pod in observed.pods if _running(pod) and _true(_condition(pod, "Ready"))), None)
        if ready and serving and ready != serving:
            restarts += 1
            if said_while_going:
                assert restarted is not None
                reason, lost = restarted["reason"], restarted["message"].removesuffix(WAITING)
            else:
                reason, why = lost_because(old)
                lost = f"its pod {serving} was lost ({why})"
            message = f"{lost}; {ready} replaced it, without the old one's processes and files (restart {restarts})"
            restarted = condition("Restarted", True, reason, message, now)
        serving = ready or serving
    if serving:
        status["podName"] = serving
    if restarts:
        status["restarts"] = restarts
    if restarted is not None and result.phase not in Phase.ENDED:
        conditions.append(restarted)


def _started(
    current: dict[str, Any], status: dict[str, Any], conditions: list, observed: Observed, now: datetime
) -> None:
    """``start`` (Pool or Cold) and a WarmStart condition saying why, in a namespace with a pool: chosen
    once, before the Job, and kept as first said."""
    said = next((c for c in current.get("conditions", []) if c.get("type") == "WarmStart"), None)
    if observed.start is not None:
        pooled, reason, message = observed.start
        said = condition_since(current, "WarmStart", pooled, reason, message, now)
    if said is not None:
        status["start"] = "Pool" if said.get("status") == "True" else "Cold"
        conditions.append(said)


def _refused(
    shell: dict[str, Any], observed: Observed, settings: Settings, current: dict, conditions: list, now: datetime
) -> None:
    """A SpecChangeRefused condition while the spec asks a running shell for what it cannot take:
    said (``kubectl describe``), not silently dropped."""
    spec, problems = shell.get("spec", {}), []
    changed = manifests.changed_fields(shell, observed.job, settings)
    if changed:
        fields = ", ".join(f"spec.{key}" for key in changed)
        problems.append(f"{fields} changed on a running shell and {'was' if len(changed) == 1 else 'were'} "
                        "not applied: only spec.ttlSecondsAfterStarted can change (delete the shell and create "
                        "a new one)")  # fmt: skip
    ttl, effective = ttl_seconds(spec), manifests.effective_ttl(spec, settings)
    if ttl != effective:
        problems.append(f"a TTL of {ttl}s is more than policy.maxTtlSeconds: the shell keeps {effective}s")
    if problems:
        reason = "Immutable" if changed else "TTLTooLong"
        conditions.append(condition_since(current, "SpecChangeRefused", True, reason, "; ".join(problems), now))


def condition_since(current: dict[str, Any], kind: str, ok: bool, reason: str, message: str, now: datetime) -> dict:
    """A condition, keeping its lastTransitionTime while its status stays the same."""
    previous = next((c for c in current.get("conditions", []) if c.get("type") == kind), None)
    if previous and previous.get("status") == ("True" if ok else "False"):
        return {**condition(kind, ok, reason, message, now), "lastTransitionTime": previous["lastTransitionTime"]}
    return condition(kind, ok, reason, message, now)
