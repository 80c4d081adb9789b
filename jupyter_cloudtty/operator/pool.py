"""The warm pool (I/O): pool pods made and replaced, claimed by new shells, and handed their shell.

Objects and decisions come from ``pool_objects.py``. What this module knows of the pool pods comes
from their watch events (``seen``, fed by a kopf handler), and the agent tokens of the pods this run
of the operator made: a pool pod made by an earlier run (its token unknown) is replaced, never used.

The keeper (``keep``, one task) runs a pass whenever a pool pod changes or a shell claims one, and
every 30 s: it deletes pool pods that cannot serve (an older template, ended, of a namespace without
a pool, of an earlier run) and makes new ones until each namespace has its size, never more pool pods
than ``pool.maxPods`` in all (pods being made and pods being deleted count too).

A claim is a patch of the pod's labels with its resourceVersion: of two claims of one pod (two shells
at once, two operators), the API server lets one through and answers the other 409. A claimed pod is
never given back: the shell's Job adopts it, and it goes with the shell.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from kubernetes.client.exceptions import ApiException
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from urllib3.exceptions import HTTPError

from jupyter_cloudtty.cloudshell.names import POOL_LABEL, SHELL_LABEL, TTYD_PORT
from jupyter_cloudtty.kube.client import Cluster
from jupyter_cloudtty.kube.errors import describe
from jupyter_cloudtty.ttyd import TtydClient

from . import pool_objects
from .metrics import Metrics
from .settings import Settings

log = logging.getLogger(__name__)

EVERY = 30.0  # seconds between the keeper's passes when nothing happens
AFTER_FAILURE = 10.0  # seconds before a namespace whose pod could not be made is tried again
HANDOVER_TIMEOUT = 10.0  # seconds for the agent to take an assignment and the shell's ttyd to answer


class HandoverFailed(Exception):
    """The pool pod did not take the shell (the message says where it failed)."""


@dataclass(frozen=True)
class Claimed:
    pod: dict[str, Any]  # as the claim's answer returned it
    agent_token: str


def _proxy(namespace: str, pod: str, path: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{pod}:{TTYD_PORT}/proxy{path}"


class Pool:
    def __init__(
        self, cluster: Cluster, settings: Settings, metrics: Metrics, clock: Callable[[], float] = time.monotonic
    ):
        self.cluster, self.settings, self.metrics, self.clock = cluster, settings, metrics, clock
        self.key = pool_objects.key(settings)
        self.pods: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # namespace -> name -> pod, as seen
        self.tokens: dict[tuple[str, str], str] = {}  # agent tokens of the pods this run made
        self.making: dict[str, set[str]] = defaultdict(set)  # made, not yet seen
        self.deleting: set[tuple[str, str]] = set()  # deleted, not yet gone
        self.claiming: set[tuple[str, str]] = set()  # claimed here, until the watch shows it
        self.failed_at: dict[str, float] = {}  # namespace -> when making a pod there last failed
        self.policies: set[str] = set()  # namespaces whose pool NetworkPolicy exists
        self.changed = asyncio.Event()

    # --- what the watch shows -------------------------------------------------------------------

    def seen(self, event_type: str | None, pod: Mapping[str, Any]) -> None:
        """A pool pod's watch event (kopf's ``on.event``: ADDED, MODIFIED, DELETED, or None when listed)."""
        meta = pod.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        self.making[namespace].discard(name)
        if event_type == "DELETED":
            self.pods[namespace].pop(name, None)
            self.tokens.pop((namespace, name), None)
            self.deleting.discard((namespace, name))
        else:
            self.pods[namespace][name] = {key: pod[key] for key in ("metadata", "spec", "status") if key in pod}
            if SHELL_LABEL in (meta.get("labels") or {}):
                self.claiming.discard((namespace, name))
                self.tokens.pop((namespace, name), None)  # never needed again: the pod is a shell's
        self.changed.set()

    def unclaimed(self, namespace: str) -> list[dict[str, Any]]:
        return [pod for pod in self.pods[namespace].values()
                if SHELL_LABEL not in (pod["metadata"].get("labels") or {})]  # fmt: skip

    def _usable(self, namespace: str, pod: dict[str, Any]) -> bool:
        """A pod that is, or will be, the pool's: of this template and this run, not ended."""
        name = pod["metadata"]["name"]
        return (
            (pod["metadata"].get("labels") or {}).get(POOL_LABEL) == self.key
            and (namespace, name) in self.tokens
            and (namespace, name) not in self.deleting
            and not pool_objects.finished(pod)
            and self.settings.pool.size(namespace) > 0
        )

    # --- claiming -----------------------------------------------------------------------------

    async def claim(self, shell: dict[str, Any]) -> Claimed | None:
        """A ready pool pod of the shell's namespace, now the shell's; None if there is none."""
        namespace = shell["metadata"]["namespace"]
        candidates = [pod for pod in self.unclaimed(namespace)
                      if self._usable(namespace, pod) and pool_objects.ready(pod)
                      and (namespace, pod["metadata"]["name"]) not in self.claiming]  # fmt: skip
        candidates.sort(key=lambda pod: pod["metadata"].get("creationTimestamp", ""))  # the oldest first
        for pod in candidates:
            name = pod["metadata"]["name"]
            token = self.tokens[(namespace, name)]  # before the claim: its watch event forgets it
            self.claiming.add((namespace, name))
            try:
                answer = await self._claim(shell, pod)
            except BaseException:  # the API server failing: the pod stays the pool's, for a later claim
                self.claiming.discard((namespace, name))
                raise
            if answer is None:
                self.claiming.discard((namespace, name))
                continue
            self.tokens.pop((namespace, name), None)
            self.pods[namespace][name] = answer
            self.changed.set()  # the keeper makes its replacement
            return Claimed(answer, token)
        return None

    async def _claim(self, shell: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any] | None:
        """Patch the claim on; if the pod changed since it was seen (409), once more on a fresh read if it
        is still free. None if it was not to be had."""
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for attempt in range(2):
            try:
                return await asyncio.to_thread(
                    self.cluster.patch, "Pod", namespace, name, pool_objects.claim_patch(shell, pod)
                )
            except ApiException as e:
                if e.status == 404:
                    return None
                if e.status != 409 or attempt:
                    raise
            fresh = await asyncio.to_thread(self.cluster.get, "Pod", namespace, name)
            if fresh is None or not pool_objects.ready(fresh):
                return None  # another shell had it
            pod = fresh
        return None

    async def hand_over(self, claimed: Claimed, payload: bytes, base_path: str) -> None:
        """Give the claimed pod its shell: ``payload`` (pool_objects.assignment) typed into the agent's
        terminal, at the pod's IP or through the API server (``pool.connectVia``), then the shell's ttyd
        answering at ``base_path`` (its token's path). HandoverFailed if either does not happen within
        HANDOVER_TIMEOUT."""
        deadline = self.clock() + HANDOVER_TIMEOUT
        url, options = self._url(claimed.pod, f"{pool_objects.AGENT_PATH}/{claimed.agent_token}/ws", websocket=True)
        try:
            client = await TtydClient.connect(url, connect_timeout=HANDOVER_TIMEOUT, **options)
            try:
                await client.send(pool_objects.typed(payload))
                await client.wait_closed(max(0.1, deadline - self.clock()))  # ttyd ends it once base64 has it all
            finally:
                client.connection.close()
        except Exception as e:  # noqa: BLE001 (whatever failed, the pod is not used)
            raise HandoverFailed(f"its agent did not take the assignment: {describe(e)}") from None
        # The agent's ttyd has exited; the shell's binds the port in milliseconds. Asked until it answers.
        url, options = self._url(claimed.pod, f"{base_path}/token", websocket=False)
        while True:
            try:
                await AsyncHTTPClient().fetch(HTTPRequest(url, request_timeout=HANDOVER_TIMEOUT, **options))
                return
            except Exception as e:  # noqa: BLE001 (refused, 404 from the agent, 502/503 through the API server)
                if self.clock() > deadline:
                    raise HandoverFailed(f"its ttyd did not answer after the assignment: {describe(e)}") from None
            await asyncio.sleep(0.02)

    def _url(self, pod: dict[str, Any], path: str, websocket: bool) -> tuple[str, dict[str, Any]]:
        """(URL of ``path`` on the pod's ttyd port, options for tornado's HTTPRequest), as ``pool.connectVia`` says."""
        meta = pod["metadata"]
        if self.settings.pool.connect_via == "apiserver":
            url, options = self.cluster.websocket(_proxy(meta["namespace"], meta["name"], path))
            return (url if websocket else url.replace("ws", "http", 1)), options
        address = (pod.get("status") or {}).get("podIP") or ""
        host = f"[{address}]" if ":" in address else address
        return f"{'ws' if websocket else 'http'}://{host}:{TTYD_PORT}{path}", {}

    async def discard(self, pod: dict[str, Any]) -> None:
        """Delete a claimed pod that did not take its shell (its ServiceAccount and Secret go with it)."""
        meta = pod["metadata"]
        await asyncio.to_thread(self.cluster.delete, "Pod", meta["namespace"], meta["name"])

    # --- keeping it full ----------------------------------------------------------------------

    async def keep(self) -> None:
        """The keeper: a pass each time something changed, at least every EVERY seconds; until cancelled."""
        while True:
            self.changed.clear()
            try:
                await self.tend()
            except Exception as e:  # noqa: BLE001 (the API server failing: the next pass tries again)
                log.warning("the pool's keeper failed: %s; again in %.0fs", describe(e), AFTER_FAILURE)
                await asyncio.sleep(AFTER_FAILURE)
                continue
            try:
                await asyncio.wait_for(self.changed.wait(), EVERY)
            except asyncio.TimeoutError:
                pass

    async def tend(self) -> None:
        """One pass: unusable pods deleted, missing ones made (within the cap), the gauges set."""
        pool = self.settings.pool
        for namespace in list(self.pods):
            for pod in self.unclaimed(namespace):
                name = pod["metadata"]["name"]
                if not self._usable(namespace, pod) and (namespace, name) not in self.deleting:
                    self.deleting.add((namespace, name))  # tried once: a refusal is said once, not every pass
                    log.info("pool pod %s/%s replaced: %s", namespace, name, self._why_unusable(namespace, pod))
                    try:
                        await asyncio.to_thread(self.cluster.delete, "Pod", namespace, name)
                    except ApiException as e:
                        if e.status != 403:
                            self.deleting.discard((namespace, name))
                            raise
                        log.warning("pool pod %s/%s cannot be deleted (%s): delete it yourself (docs/"
                                    "administrators.md, the warm pool)", namespace, name, describe(e))  # fmt: skip
        total = sum(len(self.unclaimed(ns)) + len(self.making[ns]) for ns in set(self.pods) | set(self.making))
        for namespace, size in pool.namespaces.items():
            if size == 0 or self.clock() - self.failed_at.get(namespace, -AFTER_FAILURE) < AFTER_FAILURE:
                continue
            usable = [pod for pod in self.unclaimed(namespace) if self._usable(namespace, pod)]
            wanted = min(size - len(usable) - len(self.making[namespace]), pool.max_pods - total)
            if wanted <= 0:
                continue
            await self._ensure_policy(namespace)
            total += wanted
            made = await asyncio.gather(*(self._make(namespace) for _ in range(wanted)))
            if not all(made):
                self.failed_at[namespace] = self.clock()
        self._gauges()

    def _why_unusable(self, namespace: str, pod: dict[str, Any]) -> str:
        if self.settings.pool.size(namespace) == 0:
            return "no pool in this namespace"
        if (pod["metadata"].get("labels") or {}).get(POOL_LABEL) != self.key:
            return "made from another template"
        if pool_objects.finished(pod):
            return f"it ended ({pod.get('status', {}).get('phase')})"
        return "made by an earlier run of the operator"

    async def _ensure_policy(self, namespace: str) -> None:
        if self.settings.network_policy.enabled and namespace not in self.policies:
            await asyncio.to_thread(self.cluster.create, pool_objects.network_policy(namespace, self.settings))
            self.policies.add(namespace)

    async def _make(self, namespace: str) -> bool:
        """One pool pod: its ServiceAccount, its Secret (owned by that), the pod, then the ServiceAccount
        owned by the pod, so all three go with it. False (said in the log) if the API server refused."""
        name = f"cloudshell-pool-{secrets.token_hex(4)}"
        token = secrets.token_urlsafe(32)
        self.making[namespace].add(name)
        self.tokens[(namespace, name)] = token
        account = pool_objects.service_account(namespace, name)
        try:
            account = await asyncio.to_thread(self.cluster.made, account)
            await asyncio.to_thread(self.cluster.create, pool_objects.agent_secret(account, token))
            pod = await asyncio.to_thread(self.cluster.made, pool_objects.pool_pod(namespace, name, self.settings))
            owner = {"metadata": {"ownerReferences": [pool_objects.owned_by(pod)]}}
            await asyncio.to_thread(self.cluster.patch, "ServiceAccount", namespace, name, owner)
            return True
        except (ApiException, HTTPError) as e:
            log.warning("pool pod %s/%s could not be made: %s", namespace, name, describe(e))
            self.making[namespace].discard(name)
            self.tokens.pop((namespace, name), None)
            for kind in ("Pod", "ServiceAccount"):  # the Secret goes with its ServiceAccount
                try:
                    await asyncio.to_thread(self.cluster.delete, kind, namespace, name)
                except (ApiException, HTTPError):
                    pass
            return False

    def _gauges(self) -> None:
        for namespace in set(self.settings.pool.namespaces) | set(self.pods):
            usable = [pod for pod in self.unclaimed(namespace) if self._usable(namespace, pod)]
            ready = sum(1 for pod in usable if pool_objects.ready(pod))
            self.metrics.pool_pods.labels(namespace, "ready").set(ready)
            self.metrics.pool_pods.labels(namespace, "starting").set(len(usable) - ready + len(self.making[namespace]))
