"""A shell's entry in a shared Ingress or VirtualService: the merge patches, computed without a cluster."""

import pytest

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.operator import routes
from tests.harness.objects import cloudshell

HOST = "shells.example.com"


def ingress_shell(name, **config):
    return cloudshell(name, exposureMode="Ingress", ingressConfig={"host": HOST, **config})


def vs_shell(name):
    return cloudshell(name, exposureMode="VirtualService", virtualServiceConfig={"gateway": "istio-system/gw"})


def stored(obj, version="7"):
    """The shared object as the API server keeps it: a resourceVersion."""
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}


def paths(ingress, host=HOST):
    (rule,) = [r for r in ingress["spec"]["rules"] if r.get("host") == host]
    return [(p["path"], p["backend"]["service"]["name"]) for p in rule["http"]["paths"]]


def patched(current, patch):
    """A merge patch as the API server applies it to these objects (``spec`` keys replaced whole)."""
    return {**current, "spec": {**current["spec"], **patch["spec"]}}


def test_the_shared_route_by_mode():
    assert routes.shared_route(ingress_shell("s1")) == ("Ingress", "team", "cloudshell-ingress")
    assert routes.shared_route(ingress_shell("s1", ingressName="mine")) == ("Ingress", "team", "mine")
    assert routes.shared_route(vs_shell("s1")) == ("VirtualService", "team", "cloudshell-virtualservice")
    for mode in ("NodePort", "ClusterIP", "GatewayAPI"):
        assert routes.shared_route(cloudshell(exposureMode=mode)) is None
    with pytest.raises(InvalidShell, match="^spec.ingressConfig.namespace"):
        routes.shared_route(ingress_shell("s1", namespace="elsewhere"))
    with pytest.raises(InvalidShell, match="^spec.virtualServiceConfig.gateway: is required"):
        routes.shared_route(cloudshell(exposureMode="VirtualService"))


def test_a_second_shell_s_path_joins_the_first_s_guarded_by_the_resource_version():
    first = stored(routes.fresh(ingress_shell("s1"), "Ingress"))
    assert paths(first) == [("/apis/v1alpha1/cloudshell/s1", "cloudshell-s1")]
    patch = routes.with_entry(ingress_shell("s2"), "Ingress", first)
    assert patch["metadata"] == {"resourceVersion": "7"}  # another shell's write in between: 409, redone
    assert paths(patched(first, patch)) == [
        ("/apis/v1alpha1/cloudshell/s1", "cloudshell-s1"),
        ("/apis/v1alpha1/cloudshell/s2", "cloudshell-s2"),
    ]


def test_an_entry_already_there_writes_nothing():
    first = stored(routes.fresh(ingress_shell("s1"), "Ingress"))
    assert routes.with_entry(ingress_shell("s1"), "Ingress", first) is None
    vs = stored(routes.fresh(vs_shell("s1"), "VirtualService"))
    assert routes.with_entry(vs_shell("s1"), "VirtualService", vs) is None


def test_a_path_on_another_host_gets_its_own_rule_and_other_rules_stay():
    first = stored(routes.fresh(ingress_shell("s1"), "Ingress"))
    other = cloudshell("s2", exposureMode="Ingress", ingressConfig={"host": "other.example.com"})
    merged = patched(first, routes.with_entry(other, "Ingress", first))
    assert paths(merged) == [("/apis/v1alpha1/cloudshell/s1", "cloudshell-s1")]
    assert paths(merged, "other.example.com") == [("/apis/v1alpha1/cloudshell/s2", "cloudshell-s2")]


def test_a_stale_entry_at_the_shell_s_path_is_replaced():
    ingress = stored(routes.fresh(ingress_shell("s1"), "Ingress"))
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "someone-else"
    merged = patched(ingress, routes.with_entry(ingress_shell("s1"), "Ingress", ingress))
    assert paths(merged) == [("/apis/v1alpha1/cloudshell/s1", "cloudshell-s1")]


def test_removing_takes_only_the_shell_s_own_path_and_the_last_one_takes_the_ingress():
    first = stored(routes.fresh(ingress_shell("s1"), "Ingress"))
    both = stored(patched(first, routes.with_entry(ingress_shell("s2"), "Ingress", first)), "8")
    patch, empty = routes.without_entry(ingress_shell("s1"), "Ingress", both)
    assert not empty and patch["metadata"] == {"resourceVersion": "8"}
    only_s2 = stored(patched(both, patch), "9")
    assert paths(only_s2) == [("/apis/v1alpha1/cloudshell/s2", "cloudshell-s2")]
    assert routes.without_entry(ingress_shell("s1"), "Ingress", only_s2) == (None, False)  # gone already
    assert routes.without_entry(ingress_shell("s2"), "Ingress", only_s2) == (None, True)  # delete it


def test_virtual_service_routes_join_and_leave_by_name():
    first = stored(routes.fresh(vs_shell("s1"), "VirtualService"))
    both = stored(patched(first, routes.with_entry(vs_shell("s2"), "VirtualService", first)), "8")
    assert [r["name"] for r in both["spec"]["http"]] == ["team-cloudshell-s1", "team-cloudshell-s2"]
    assert both["spec"]["gateways"] == ["istio-system/gw"]
    patch, empty = routes.without_entry(vs_shell("s1"), "VirtualService", both)
    assert not empty and [r["name"] for r in patch["spec"]["http"]] == ["team-cloudshell-s2"]
    assert routes.without_entry(vs_shell("s2"), "VirtualService", stored(patched(both, patch))) == (None, True)


def test_https_when_the_ingress_terminates_tls_for_the_shell_s_host():
    ingress = routes.fresh(ingress_shell("s1"), "Ingress")
    assert not routes.serves_https(ingress_shell("s1"), ingress)
    ingress["spec"]["tls"] = [{"hosts": [HOST], "secretName": "tls"}]
    assert routes.serves_https(ingress_shell("s1"), ingress)
    assert not routes.serves_https(
        cloudshell("s2", exposureMode="Ingress", ingressConfig={"host": "x.example"}), ingress
    )
    assert not routes.serves_https(ingress_shell("s1"), None)  # not seen yet
