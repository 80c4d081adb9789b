"""A shell's entry in a shared Ingress or VirtualService: the merge patches, computed without a cluster."""

from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.operator import manifests, routes
from jupyter_cloudtty.operator.reconciler import Reconciler
from jupyter_cloudtty.operator.settings import Settings
from tests.harness.objects import cloudshell

HOST = "shells.example.com"
GATEWAY = "istio-system/gw"
SETTINGS = Settings(ingress_annotations={"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"})


def ingress_shell(name, **config):
    return cloudshell(name, exposureMode="Ingress", ingressConfig={"host": HOST, **config})


def vs_shell(name, **config):
    return cloudshell(name, exposureMode="VirtualService", virtualServiceConfig={"gateway": GATEWAY, **config})


def stored(obj, version="7"):
    """The shared object as the API server keeps it: a resourceVersion."""
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}


def created_by(shell, kind="Ingress"):
    """The shared object as the operator created it for ``shell``, its first."""
    return stored(routes.fresh(shell, kind, SETTINGS))


def administrators(kind, name, **spec):
    """An administrator's object of that name, as the API server keeps it: no label of the operator's."""
    api = "networking.k8s.io/v1" if kind == "Ingress" else "networking.istio.io/v1beta1"
    meta = {"name": name, "namespace": "team", "resourceVersion": "3", "labels": {"team": "platform"}}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def paths(ingress, host=HOST):
    (rule,) = [r for r in ingress["spec"]["rules"] if r.get("host") == host]
    return [(p["path"], p["backend"]["service"]["name"]) for p in rule["http"]["paths"]]


def patched(current, patch):
    """A merge patch as the API server applies it to these objects (``spec`` keys replaced whole)."""
    return {**current, "spec": {**current["spec"], **patch["spec"]}}


def refused(field, message=""):
    return pytest.raises(InvalidShell, match=f"^{field}: {message}")


def test_the_shared_route_by_mode():
    assert routes.shared_route(ingress_shell("s1")) == ("Ingress", "team", "cloudshell-ingress")
    assert routes.shared_route(ingress_shell("s1", ingressName="mine")) == ("Ingress", "team", "mine")
    vs = ("VirtualService", "team", "cloudshell-virtualservice")
    assert routes.shared_route(vs_shell("s1")) == routes.shared_route(vs_shell("s1", namespace="team")) == vs
    for mode in ("NodePort", "ClusterIP", "GatewayAPI"):
        assert routes.shared_route(cloudshell(exposureMode=mode)) is None
    with refused("spec.virtualServiceConfig.gateway", "is required"):
        routes.shared_route(cloudshell(exposureMode="VirtualService"))


@pytest.mark.parametrize(
    "shell, field",
    [
        (ingress_shell("s1", namespace="elsewhere"), "spec.ingressConfig.namespace"),
        (vs_shell("s1", namespace="istio-system"), "spec.virtualServiceConfig.namespace"),
        (ingress_shell("s1", annotations={"nginx.ingress.kubernetes.io/configuration-snippet": "deny all;"}),
         "spec.ingressConfig.annotations"),
    ],
)  # fmt: skip
def test_what_would_act_beyond_the_shell_is_refused_before_any_route_is_named(shell, field):
    """Another namespace (an Istio VirtualService with `hosts: ["*"]` in istio-system), annotations on
    an object whose other paths are other users' shells': refused, so no route is written or removed."""
    with refused(field):
        routes.shared_route(shell)
    assert routes.shared_route(ingress_shell("s1", annotations={})) is not None  # empty: nothing asked


def test_the_operator_marks_what_it_creates_and_annotates_it_as_the_administrator_says():
    shell = ingress_shell("s1", ingressClassName="nginx")
    ingress = routes.fresh(shell, "Ingress", SETTINGS)
    assert ingress["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "jupyter-cloudtty-operator",
        "cloudshell.cloudtty.io/shared": "true",
    }
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"}
    assert ingress["spec"]["ingressClassName"] == "nginx"  # the first shell's, as in CloudTTY
    assert "annotations" not in routes.fresh(shell, "Ingress", Settings())["metadata"]
    vs = routes.fresh(vs_shell("s1"), "VirtualService", SETTINGS)
    assert routes.managed(vs) and "annotations" not in vs["metadata"]  # ingressAnnotations: Ingresses only


@pytest.mark.parametrize("kind, shell, field", [
    ("Ingress", ingress_shell("s1", ingressName="platform"), "spec.ingressConfig.ingressName"),
    ("VirtualService", vs_shell("s1", virtualServiceName="platform"), "spec.virtualServiceConfig.virtualServiceName"),
])  # fmt: skip
def test_an_object_the_operator_did_not_create_is_neither_joined_nor_removed(kind, shell, field):
    """A shell naming an administrator's Ingress (or VirtualService) is refused, naming the field; a shell
    ending never edits nor deletes it, though none of its entries is the operator's."""
    theirs = administrators(kind, "platform", rules=[{"host": "admin.example.com"}], http=[])
    with refused(field, f"{kind} 'platform' was not created by the operator; name another"):
        routes.with_entry(shell, kind, theirs)
    assert routes.without_entry(shell, kind, theirs) == (None, False)


def test_a_second_shell_s_path_joins_the_first_s_guarded_by_the_resource_version():
    first = created_by(ingress_shell("s1"))
    assert paths(first) == [("/apis/v1alpha1/cloudshell/s1", "cloudshell-s1")]
    patch = routes.with_entry(ingress_shell("s2"), "Ingress", first)
    assert patch["metadata"] == {"resourceVersion": "7"}  # another shell's write in between: 409, redone
    assert paths(patched(first, patch)) == [
        ("/apis/v1alpha1/cloudshell/s1", "cloudshell-s1"),
        ("/apis/v1alpha1/cloudshell/s2", "cloudshell-s2"),
    ]


def test_an_entry_already_there_writes_nothing():
    first = created_by(ingress_shell("s1"))
    assert routes.with_entry(ingress_shell("s1"), "Ingress", first) is None
    vs = created_by(vs_shell("s1"), "VirtualService")
    assert routes.with_entry(vs_shell("s1"), "VirtualService", vs) is None


def test_a_shell_asking_the_shared_ingress_for_another_class_or_host_is_refused():
    """Class and host act on every path of the shared Ingress: the first shell's stay. A later shell
    may leave the class empty; its host is in its URL, so it must be the Ingress's."""
    first = created_by(ingress_shell("s1", ingressClassName="nginx"))
    shared = "Ingress 'cloudshell-ingress', shared by shells, has"
    with refused("spec.ingressConfig.ingressClassName", f"{shared} class 'nginx'; ask for that, leave it empty or"):
        routes.with_entry(ingress_shell("s2", ingressClassName="public"), "Ingress", first)
    elsewhere = cloudshell("s2", exposureMode="Ingress", ingressConfig={"host": "other.example.com"})
    with refused("spec.ingressConfig.host", f"{shared} host 'shells.example.com'; ask for that or name another$"):
        routes.with_entry(elsewhere, "Ingress", first)
    with refused("spec.ingressConfig.host", ".* has host 'shells.example.com'"):
        routes.with_entry(cloudshell("s2", exposureMode="Ingress"), "Ingress", first)
    for joining in (ingress_shell("s2"), ingress_shell("s2", ingressClassName="nginx")):
        assert paths(patched(first, routes.with_entry(joining, "Ingress", first)))[-1][1] == "cloudshell-s2"
    hostless = created_by(cloudshell("s1", exposureMode="Ingress"))
    with refused("spec.ingressConfig.host", ".* has no host; ask for that"):
        routes.with_entry(ingress_shell("s2"), "Ingress", hostless)


def test_another_shell_s_path_is_never_displaced():
    """A path prefix and suffix can spell another shell's path (`x/apis/v1alpha1/cloudshell/a` + `s1`...):
    the path stays the first shell's, the later one is refused. Its own stale entry is replaced."""
    ingress = created_by(ingress_shell("s1"))
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "cloudshell-victim"
    with refused("spec.pathPrefix", "Ingress 'cloudshell-ingress' routes '/apis/v1alpha1/cloudshell/s1' to another"):
        routes.with_entry(ingress_shell("s1"), "Ingress", ingress)
    ingress = created_by(ingress_shell("s1"))
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {"number": 80}
    merged = patched(ingress, routes.with_entry(ingress_shell("s1"), "Ingress", ingress))
    assert merged["spec"]["rules"][0]["http"]["paths"] == [manifests.ingress_path(ingress_shell("s1"))]

    vs = created_by(vs_shell("a"), "VirtualService")
    vs["spec"]["http"][0]["name"] = "team-cloudshell-victim"
    with refused("spec.pathPrefix", "VirtualService 'cloudshell-virtualservice' routes '/apis/v1alpha1/cloudshell/a'"):
        routes.with_entry(vs_shell("a"), "VirtualService", vs)


def test_removing_takes_only_the_shell_s_own_path_and_the_last_one_takes_the_ingress():
    first = created_by(ingress_shell("s1"))
    both = stored(patched(first, routes.with_entry(ingress_shell("s2"), "Ingress", first)), "8")
    patch, empty = routes.without_entry(ingress_shell("s1"), "Ingress", both)
    assert not empty and patch["metadata"] == {"resourceVersion": "8"}
    only_s2 = stored(patched(both, patch), "9")
    assert paths(only_s2) == [("/apis/v1alpha1/cloudshell/s2", "cloudshell-s2")]
    assert routes.without_entry(ingress_shell("s1"), "Ingress", only_s2) == (None, False)  # gone already
    assert routes.without_entry(ingress_shell("s2"), "Ingress", only_s2) == (None, True)  # delete it


def test_virtual_service_routes_join_and_leave_by_name():
    first = created_by(vs_shell("s1"), "VirtualService")
    both = stored(patched(first, routes.with_entry(vs_shell("s2"), "VirtualService", first)), "8")
    assert [r["name"] for r in both["spec"]["http"]] == ["team-cloudshell-s1", "team-cloudshell-s2"]
    assert both["spec"]["gateways"] == ["istio-system/gw"]
    patch, empty = routes.without_entry(vs_shell("s1"), "VirtualService", both)
    assert not empty and [r["name"] for r in patch["spec"]["http"]] == ["team-cloudshell-s2"]
    assert routes.without_entry(vs_shell("s2"), "VirtualService", stored(patched(both, patch))) == (None, True)


def test_a_virtual_service_s_longer_paths_come_first_so_no_shell_takes_another_s_requests():
    """Istio matches a `prefix` as a string, the first route first: /…/s1 ahead of /…/s10 would send
    s10's requests to s1's pod."""
    first = created_by(vs_shell("s1"), "VirtualService")
    both = patched(first, routes.with_entry(vs_shell("s10"), "VirtualService", first))
    assert [r["name"] for r in both["spec"]["http"]] == ["team-cloudshell-s10", "team-cloudshell-s1"]


def test_a_shell_asking_the_shared_virtual_service_for_another_gateway_or_export_is_refused():
    first = created_by(vs_shell("s1", export_to="."), "VirtualService")
    public = cloudshell("s2", exposureMode="VirtualService", virtualServiceConfig={"gateway": "istio-system/public"})
    shared = "VirtualService 'cloudshell-virtualservice', shared by shells, has"
    with refused("spec.virtualServiceConfig.gateway", rf"{shared} gateways \['istio-system/gw'\]; ask for that"):
        routes.with_entry(public, "VirtualService", first)
    with refused("spec.virtualServiceConfig.export_to", r".* has exportTo \['.'\]; ask for that, leave it empty"):
        routes.with_entry(vs_shell("s2", export_to="*"), "VirtualService", first)
    for joining in (vs_shell("s2"), vs_shell("s2", export_to=".")):
        assert routes.with_entry(joining, "VirtualService", first)["spec"]["http"][-1]["name"] == "team-cloudshell-s2"


def test_https_when_the_ingress_terminates_tls_for_the_shell_s_host():
    ingress = routes.fresh(ingress_shell("s1"), "Ingress", SETTINGS)
    assert not routes.serves_https(ingress_shell("s1"), ingress)
    ingress["spec"]["tls"] = [{"hosts": [HOST], "secretName": "tls"}]
    assert routes.serves_https(ingress_shell("s1"), ingress)
    assert not routes.serves_https(
        cloudshell("s2", exposureMode="Ingress", ingressConfig={"host": "x.example"}), ingress
    )
    assert not routes.serves_https(ingress_shell("s1"), None)  # not seen yet


# --- the reconciler's edit of a shared route ------------------------------------------------------------------


class SharedRoute:
    """The API server as far as one shared route goes: the object as stored, and the patches it takes."""

    def __init__(self, stored):
        self.stored = stored

    def get(self, kind, namespace, name):
        return self.stored

    def patch(self, kind, namespace, name, patch, subresource=None):
        version = self.stored["metadata"]["resourceVersion"]
        if patch["metadata"]["resourceVersion"] != version:
            raise ApiException(status=409, reason="Conflict")  # written from an older copy
        self.stored = stored(patched(self.stored, patch), str(int(version) + 1))


async def test_a_shell_is_refused_for_what_the_latest_copy_shows_never_for_a_lagging_index():
    """The last shell on host A took the Ingress along and a shell on host B made it again; the index
    may still show A's. A shell on B joins (the operator reads the object before refusing); one on A
    is refused by the latest copy."""
    lagging = created_by(cloudshell("gone", exposureMode="Ingress", ingressConfig={"host": "a.example.com"}))
    cluster = SharedRoute(created_by(ingress_shell("s1")))
    reconciler, cache = Reconciler(cluster, SETTINGS), SimpleNamespace(shared_route=lambda route: lagging)
    joining = ingress_shell("s2")
    await reconciler._add_route_entry(joining, routes.shared_route(joining), cache)
    assert [backend for _, backend in paths(cluster.stored)] == ["cloudshell-s1", "cloudshell-s2"]
    on_a = cloudshell("s3", exposureMode="Ingress", ingressConfig={"host": "a.example.com"})
    with refused("spec.ingressConfig.host", ".* has host 'shells.example.com'"):
        await reconciler._add_route_entry(on_a, routes.shared_route(on_a), cache)
