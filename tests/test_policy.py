"""A request under the administrator's policy, and a CloudShell as the REST API shows it (pure)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.model import parse_time
from jupyter_cloudtty.server.backends.kubernetes import policy
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
    assert safe == "shells-alice-example-" + policy._digest("Alice@Example")  # distinct from 'alice-example'
    assert policy.namespace_for("", "team", "alice") == "team"


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
