"""A request under the administrator's policy, and a CloudShell as the REST API shows it (pure)."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.model import parse_time
from jupyter_cloudtty.server.backends.kubernetes import policy
from jupyter_cloudtty.server.backends.kubernetes.backend import KubernetesBackend
from jupyter_cloudtty.server.backends.kubernetes.policy import Policy

POLICY = Policy(namespace="team")


@pytest.mark.parametrize(
    "owner, label",
    [
        ("alice", "alice"),
        ("Alice.Smith_2", "Alice.Smith_2"),  # a valid label value stays as it is
        ("alice@example.org", "alice-example.org-" + policy._digest("alice@example.org")),
        ("-x-", "x-" + policy._digest("-x-")),
        ("ü", "u-" + policy._digest("ü")),
        ("a" * 80, "a" * 40 + "-" + policy._digest("a" * 80)),
    ],
)
def test_owner_labels_are_valid_label_values(owner, label):
    assert policy.owner_label(owner) == label
    assert len(label) <= 63 and policy._LABEL_VALUE.match(label)


def test_namespace_template_uses_a_dns_safe_username():
    assert policy.namespace_for("shells-{username}", "default", "alice") == "shells-alice"
    safe = policy.namespace_for("shells-{username}", "default", "Alice@Example")
    assert safe == "shells-alice-example--" + policy._digest("Alice@Example")  # distinct from 'alice-example'
    assert policy.namespace_for("", "team", "alice") == "team"


def test_two_users_never_share_a_namespace():
    """A name that needed a hash, and another user named exactly like the result of the old scheme."""
    dotted = policy.namespace_for("shells-{username}", "default", "john.smith")
    lookalike = policy.namespace_for("shells-{username}", "default", f"john-smith-{policy._digest('john.smith')}")
    also = policy.namespace_for("shells-{username}", "default", f"john-smith--{policy._digest('john.smith')}")
    assert len({dotted, lookalike, also}) == 3, (dotted, lookalike, also)


@pytest.mark.parametrize(
    "template, problem",
    [("shells-{user}", "only {username} may be used"), ("Shells_{username}", "not a namespace name")],
)
def test_a_namespace_template_that_cannot_work_is_refused_naming_the_option(template, problem):
    with pytest.raises(ValueError, match=r"^c.CloudTTY.namespace_template .*" + re.escape(problem)):
        policy.namespace_for(template, "default", "alice")


def test_ownership_needs_the_label_and_the_exact_name():
    obj = policy.cloudshell("s1", {}, "alice@example.org", POLICY)
    assert policy.owned_by(obj, "alice@example.org")
    assert not policy.owned_by(obj, "alice@example.com")  # another name, maybe the same readable label part
    obj["metadata"]["annotations"][policy.OWNER_ANNOTATION] = "mallory"
    assert not policy.owned_by(obj, "alice@example.org")


def test_the_cloudshell_of_a_request():
    admin = Policy(namespace="team", default_image="img:1", max_ttl=600, kubeconfig_secret="kc",
                   extra_labels={"team": "data", policy.OWNER_LABEL: "bob"})  # fmt: skip
    obj = policy.cloudshell("s1", {"commandAction": "top", "ttl": 60}, "alice", admin)
    assert obj["metadata"] == {
        "name": "s1",
        "namespace": "team",
        "labels": {"team": "data", "app.kubernetes.io/managed-by": "jupyter-cloudtty", policy.OWNER_LABEL: "alice"},
        "annotations": {policy.OWNER_ANNOTATION: "alice"},
    }
    assert obj["spec"] == {"commandAction": "top", "ttl": 60, "image": "img:1", "exposureMode": "ClusterIP",
                           "secretRef": {"name": "kc"}}  # fmt: skip


def test_max_ttl_is_the_default_ttl_and_the_limit():
    admin = Policy(namespace="team", max_ttl=600)
    assert policy.apply({}, admin)["ttlSecondsAfterStarted"] == 600
    with pytest.raises(InvalidShell, match=r"^spec.ttl: at most 600 seconds here \(c.CloudTTY.max_ttl\), got 601$"):
        policy.apply({"ttl": 601}, admin)


def test_the_idle_timeout_is_the_default_and_the_longest_a_request_gets():
    idle = Policy(namespace="ns", idle_timeout=1800)
    assert policy.apply({}, idle)["idleTimeoutSeconds"] == 1800
    assert policy.apply({"idleTimeoutSeconds": 600}, idle)["idleTimeoutSeconds"] == 600
    for asked, shown in ((3600, "3600"), (0, "0 (never)")):
        why = f"spec.idleTimeoutSeconds: at most 1800 seconds here (c.CloudTTY.idle_timeout), got {shown}"
        with pytest.raises(InvalidShell, match=re.escape(why)):
            policy.apply({"idleTimeoutSeconds": asked}, idle)
    assert "idleTimeoutSeconds" not in policy.apply({}, Policy(namespace="ns"))  # no rule: none given
    assert policy.apply({"idleTimeoutSeconds": 0}, Policy(namespace="ns"))["idleTimeoutSeconds"] == 0


@pytest.mark.parametrize(
    "allowed, image, ok",
    [
        ((), "any", False),
        (("reg.example/*",), "reg.example/py:3", True),
        (("reg.example/*",), "evil/reg.example", False),
    ],
)
def test_images_must_match_an_allowed_pattern(allowed, image, ok):
    admin = Policy(namespace="team", allowed_images=allowed)
    if ok:
        assert policy.apply({"image": image}, admin)["image"] == image
    else:
        with pytest.raises(InvalidShell, match=r"^spec.image: "):
            policy.apply({"image": image}, admin)


def test_a_shell_no_operator_has_touched_says_so_after_a_while():
    obj = policy.cloudshell("s1", {}, "alice", POLICY)
    obj["metadata"]["creationTimestamp"] = "2026-11-25T10:00:00Z"
    created = parse_time("2026-11-25T10:00:00Z")
    assert policy.shell(obj, created + timedelta(seconds=10)).conditions == []
    (condition,) = policy.shell(obj, created + timedelta(seconds=45)).conditions
    assert condition["status"] == "Unknown" and condition["reason"] == "NotPickedUp"
    assert "no operator has acted on this shell for 45s" in condition["message"]
    assert "namespace 'team'" in condition["message"]


def test_how_a_shell_started_reaches_the_rest_api_only_where_the_operator_says():
    warm = {
        "type": "WarmStart",
        "status": "False",
        "reason": "ImageDiffers",
        "message": "its image differs from the pool's",
    }
    obj = policy.cloudshell("s1", {}, "alice", POLICY)
    obj["metadata"]["creationTimestamp"] = "2026-11-25T10:00:00Z"
    obj["status"] = {"phase": "Ready", "start": "Cold", "conditions": [warm]}
    status = policy.shell(obj).to_json()["status"]
    assert status["start"] == "Cold" and status["conditions"] == [warm]
    # Without a pool the operator writes no start, and the JSON has no key to mislead the panel.
    obj["status"] = {"phase": "Ready"}
    assert "start" not in policy.shell(obj).to_json()["status"]


class _Custom:
    """The CloudShell API of a cluster where generated names are taken ``taken`` times before one is free."""

    def __init__(self, taken: int = 0):
        self.taken, self.bodies = taken, []

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **options):
        self.bodies.append(body)
        if len(self.bodies) <= self.taken:
            raise ApiException(status=409, reason="Conflict")
        return {**body, "metadata": {**body["metadata"], "uid": "u1", "creationTimestamp": "2026-11-25T10:00:00Z"}}


def _backend(custom: _Custom, admin: Policy) -> KubernetesBackend:
    backend = KubernetesBackend(SimpleNamespace(custom=custom, host="https://k8s"), owner="alice", policy=admin,
                                connect_via="service")  # fmt: skip
    backend._synced.set()  # as after the watch's first list: no shells yet
    return backend


async def test_a_created_shell_is_the_request_under_the_policy_whatever_names_were_drawn(monkeypatch):
    applied = []
    monkeypatch.setattr(
        policy, "apply", lambda spec, admin, apply=policy.apply: applied.append(spec) or apply(spec, admin)
    )
    custom = _Custom(taken=2)
    admin = Policy(namespace="team", default_image="img:1", max_ttl=600)
    shell = await _backend(custom, admin).create(None, {"commandAction": "top"})
    names = [body["metadata"]["name"] for body in custom.bodies]
    assert len(set(names)) == 3 and shell.name == names[-1]
    assert shell.spec == {"commandAction": "top", "image": "img:1", "ttlSecondsAfterStarted": 600,
                          "exposureMode": "ClusterIP"}  # fmt: skip
    assert applied == [{"commandAction": "top"}]  # once, not once per name nor once more to check it


async def test_a_request_the_policy_refuses_never_reaches_the_cluster():
    custom = _Custom()
    with pytest.raises(InvalidShell, match=r"^spec.exposureMode: not set by a request: how shells are reached is "):
        await _backend(custom, POLICY).create("s1", {"exposureMode": "NodePort"})
    with pytest.raises(InvalidShell, match=r"^spec.image: choosing an image is not allowed here"):
        await _backend(custom, POLICY).create("s1", {"image": "mine:1"})
    assert custom.bodies == []


def test_the_pod_serving_a_shell_and_its_restarts_reach_the_rest_api():
    # The tab says a replaced pod took the old process with it when the count moves (terminal.ts).
    obj = policy.cloudshell("s1", {}, "alice", POLICY)
    obj["metadata"]["creationTimestamp"] = "2026-11-25T10:00:00Z"
    obj["status"] = {"phase": "Ready", "podName": "cloudshell-s1-b2c3d", "restarts": 2}
    status = policy.shell(obj).to_json()["status"]
    assert (status["podName"], status["restarts"]) == ("cloudshell-s1-b2c3d", 2)
    # Never restarted, or not an operator's number: no key.
    obj["status"] = {"phase": "Ready", "restarts": "2"}
    assert "restarts" not in policy.shell(obj).to_json()["status"]
