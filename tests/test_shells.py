"""The shell model: names and CloudShell spec validation (pure functions)."""

import pytest

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.spec import (
    generate_name,
    parse_create_request,
    ttl_seconds,
    validate_name,
    validate_spec,
)
from tests.harness.objects import FULL_SPEC


def test_every_cloudshell_field_is_accepted():
    assert validate_spec(FULL_SPEC) == FULL_SPEC


def test_null_means_unset_as_in_a_manifest():
    assert validate_spec({"ttl": None, "commandAction": "bash"}) == {"commandAction": "bash"}


@pytest.mark.parametrize(
    "spec, field, words",
    [
        ({"tll": 5}, "spec.tll", "unknown field"),
        ({"ttl": -1}, "spec.ttl", "at least 1"),
        ({"ttl": 0}, "spec.ttl", "at least 1"),
        ({"ttl": "60"}, "spec.ttl", "got a string"),
        ({"ttl": True}, "spec.ttl", "got a boolean"),
        ({"ttlSecondsAfterStarted": 1.5}, "spec.ttlSecondsAfterStarted", "got a number"),
        ({"once": "yes"}, "spec.once", "true or false"),
        ({"cleanup": 1}, "spec.cleanup", "true or false"),
        ({"commandAction": ""}, "spec.commandAction", "must not be empty"),
        ({"commandAction": ["ls"]}, "spec.commandAction", "must be a string"),
        ({"commandAction": "a\0b"}, "spec.commandAction", "NUL"),
        ({"runAsUser": "nobody"}, "spec.runAsUser", "'root' or a numeric UID"),
        ({"runAsUser": 1000}, "spec.runAsUser", "must be a string"),
        ({"runAsUser": "²"}, "spec.runAsUser", "'root' or a numeric UID (0 to 2147483647)"),  # isdigit() says yes
        ({"runAsUser": "2147483648"}, "spec.runAsUser", "'root' or a numeric UID"),
        ({"ttl": 2**31}, "spec.ttl", "at most 2147483647 seconds"),
        ({"ttlSecondsAfterStarted": 10**400}, "spec.ttlSecondsAfterStarted", "got a larger number"),
        ({"secretRef": {"name": "kc\n"}}, "spec.secretRef.name", "not a valid Kubernetes object name"),
        ({"env": [{"name": "A\n", "value": "x"}]}, "spec.env[0].name", "not a valid environment variable name"),
        ({"env": [{"name": "A", "value": "a\0b"}]}, "spec.env[0].value", "NUL"),
        ({"exposureMode": ["ClusterIP"]}, "spec.exposureMode", "got a list"),
        ({"exposureMode": "LoadBalancer"}, "spec.exposureMode", "one of ClusterIP, NodePort"),
        ({"secretRef": {"name": "Bad_Name"}}, "spec.secretRef.name", "not a valid Kubernetes object name"),
        ({"secretRef": {"name": "ok", "key": "x"}}, "spec.secretRef.key", "unknown field"),
        ({"secretRef": "name"}, "spec.secretRef", "must be an object"),
        ({"secretRef": {}}, "spec.secretRef.name", "is required"),
        ({"ingressConfig": {"namespace": "a.b"}}, "spec.ingressConfig.namespace", "namespace name"),
        ({"ingressConfig": {"annotations": {"a": 1}}}, "spec.ingressConfig.annotations.a", "must be a string"),
        ({"pathPrefix": "/a b"}, "spec.pathPrefix", "URL path"),
        ({"env": {"A": "b"}}, "spec.env", "must be a list"),
        ({"env": [{"value": "x"}]}, "spec.env[0].name", "is required"),
        (
            {"env": [{"name": "A", "value": "1"}, {"name": "1=2", "value": "x"}]},
            "spec.env[1].name",
            "not a valid environment variable name",
        ),
        ({"env": [{"name": "A", "value": 3}]}, "spec.env[0].value", "must be a string"),
        ({"env": [{"name": "A", "value": "1", "valueFrom": {"fieldRef": {}}}]}, "spec.env[0]", "not both"),
        ({"env": [{"name": "A", "valueFrom": {}}]}, "spec.env[0].valueFrom", "exactly one of fieldRef"),
        ({"env": [{"name": "A", "valueFrom": {"vaultRef": {}}}]}, "spec.env[0].valueFrom.vaultRef", "unknown field"),
        (
            {"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": {"nested": 1}}}}]},
            "spec.env[0].valueFrom.fieldRef.fieldPath",
            "must be a string, a boolean or a small number",
        ),
        ({"ttydClientOptions": {"a=b": "c"}}, "spec.ttydClientOptions.a=b", "neither '=' nor '|'"),
        ({"ttydClientOptions": {"a|b": "c"}}, "spec.ttydClientOptions.a|b", "neither '=' nor '|'"),
        ({"ttydClientOptions": {"a": "b|c"}}, "spec.ttydClientOptions.a", "must not contain '|'"),
        ({"ttydClientOptions": {"fontSize": 20}}, "spec.ttydClientOptions.fontSize", "must be a string"),
    ],
)
def test_invalid_fields_are_named(spec, field, words):
    with pytest.raises(InvalidShell) as error:
        validate_spec(spec)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")
    assert words in str(error.value)


@pytest.mark.parametrize("name", ["a", "shell-1", "x" * 52, "0abc"])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name, words",
    [
        ("", "must not be empty"),
        ("-a", "not a DNS-1123 label"),
        ("a-", "not a DNS-1123 label"),
        ("a_b", "not a DNS-1123 label"),
        ("a.b", "not a DNS-1123 label"),
        ("x" * 53, "at most 52 characters"),
        (5, "must be a string"),
    ],
)
def test_invalid_names(name, words):
    with pytest.raises(InvalidShell) as error:
        validate_name(name)
    assert error.value.field == "name"
    assert words in str(error.value)


def test_generated_names_are_valid_and_distinct():
    names = {generate_name() for _ in range(200)}
    assert len(names) > 190
    for name in names:
        assert validate_name(name).startswith("shell-")


def test_create_request_shape():
    assert parse_create_request(None) == (None, {})
    assert parse_create_request({"name": "a", "spec": {"once": True}}) == ("a", {"once": True})
    with pytest.raises(InvalidShell, match="^commandAction: unknown field"):
        parse_create_request({"commandAction": "bash"})
    with pytest.raises(InvalidShell, match="^body: must be a JSON object"):
        parse_create_request([1])


def test_ttl_prefers_the_newer_field():
    assert ttl_seconds({"ttl": 5}) == 5
    assert ttl_seconds({"ttl": 5, "ttlSecondsAfterStarted": 9}) == 9
    assert ttl_seconds({}) is None
