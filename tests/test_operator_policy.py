"""The operator's check of the administrator's policy (operator/policy.py): what a shell may ask for."""

import pytest

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.operator import manifests, policy
from jupyter_cloudtty.operator.settings import Settings, ShellPolicy
from tests.harness.objects import cloudshell

OWN = "registry.example/cloudshell:1"
SETTINGS = Settings(image=OWN)
OPEN = Settings(
    image=OWN,
    policy=ShellPolicy(
        allowed_images=("corp/*", "ghcr.io/team/shell:?"),
        allow_root=True,
        kubeconfig_secrets=("kc",),
        kubeconfig_config_maps=("old-kc",),
        allow_env_value_from=True,
        exposure_modes=("ClusterIP", "NodePort", "Ingress"),
        max_ttl_seconds=3600,
    ),
)


def refusal(spec, settings=SETTINGS):
    """What the operator says of a shell with ``spec`` (validated first, as the reconciler does)."""
    with pytest.raises(InvalidShell) as refused:
        policy.check(manifests.validated(cloudshell(**spec)), settings)
    return str(refused.value)


def allowed(spec, settings=SETTINGS):
    policy.check(manifests.validated(cloudshell(**spec)), settings)
    return True


def test_a_plain_shell_passes_the_default_policy():
    assert allowed({})
    assert allowed({"commandAction": "bash", "exposureMode": "ClusterIP", "runAsUser": "1000", "once": True,
                    "ttl": 600, "env": [{"name": "FOO", "value": "bar"}]})  # fmt: skip


def test_images():
    assert allowed({"image": OWN})  # the operator's own (what it writes back into the spec)
    template = {"spec": {"template": {"spec": {"containers": [{"name": "web-tty", "image": "corp/base:7"}]}}}}
    assert allowed({"image": "corp/base:7"}, Settings(image=OWN, job_template=template))  # the jobTemplate's
    assert refusal({"image": "evil:latest"}) == (
        f"spec.image: 'evil:latest' is not an allowed image (policy.allowedImages: none; or the shell image '{OWN}')"
    )
    assert allowed({"image": "corp/anything:2"}, OPEN) and allowed({"image": "ghcr.io/team/shell:3"}, OPEN)
    said = refusal({"image": "ghcr.io/team/shell:30"}, OPEN)  # `?` is one character, not more
    assert said.startswith("spec.image: 'ghcr.io/team/shell:30' is not an allowed image (policy.allowedImages: "
                           "corp/*, ghcr.io/team/shell:?;")  # fmt: skip


@pytest.mark.parametrize("user", ["root", "0", "00"])
def test_root_only_if_allowed(user):
    assert refusal({"runAsUser": user}) == f"spec.runAsUser: {user!r} is root, not allowed (policy.allowRoot: false)"
    assert allowed({"runAsUser": user}, OPEN)


def test_kubeconfigs_only_those_listed():
    assert refusal({"secretRef": {"name": "team-b-admin"}}) == (
        "spec.secretRef.name: 'team-b-admin' is not an allowed kubeconfig Secret (policy.kubeconfigSecrets: none)"
    )
    assert refusal({"secretRef": {"name": "other"}}, OPEN).endswith("(policy.kubeconfigSecrets: kc)")
    assert allowed({"secretRef": {"name": "kc"}}, OPEN)
    assert refusal({"configmapName": "cm"}) == (
        "spec.configmapName: 'cm' is not an allowed kubeconfig ConfigMap (policy.kubeconfigConfigMaps: none)"
    )
    assert allowed({"configmapName": "old-kc"}, OPEN)


def test_env_value_from_only_if_allowed():
    var = {"name": "X", "valueFrom": {"secretKeyRef": {"name": "someone-else", "key": "password"}}}
    said = refusal({"env": [{"name": "A", "value": "1"}, var]})
    assert said.startswith("spec.env[1].valueFrom: not allowed (policy.allowEnvValueFrom: false)")
    assert allowed({"env": [var]}, OPEN)


def test_the_token_variable_is_the_operator_s():
    for settings in (SETTINGS, OPEN):
        assert refusal({"env": [{"name": "TTYD_TOKEN", "value": "guess"}]}, settings) == (
            "spec.env[0].name: TTYD_TOKEN is the operator's (the shell's token)"
        )


def test_exposure_modes():
    assert refusal({"exposureMode": "NodePort"}) == (
        "spec.exposureMode: 'NodePort' is not allowed (policy.exposureModes: ClusterIP)"
    )
    assert allowed({"exposureMode": "NodePort"}, OPEN)
    ingress_only = Settings(policy=ShellPolicy(exposure_modes=("Ingress",)))
    assert refusal({}, ingress_only) == (
        "spec.exposureMode: 'ClusterIP' (the default) is not allowed (policy.exposureModes: Ingress)"
    )


@pytest.mark.parametrize("field", ["ttl", "ttlSecondsAfterStarted"])
def test_ttl_bounds(field):
    assert refusal({field: 3601}, OPEN) == f"spec.{field}: 3601 seconds is more than policy.maxTtlSeconds (3600)"
    assert allowed({field: 3600}, OPEN)
    assert allowed({field: 10**6})  # no bound: maxTtlSeconds 0


def test_a_shell_without_a_ttl_gets_the_longest_one_under_a_bound():
    """Under policy.maxTtlSeconds a shell that asks for no TTL would run forever: it gets the longest
    (the reconciler writes it back into the spec, with the image); one with a TTL keeps its own."""
    assert policy.defaults(manifests.validated(cloudshell()), OPEN) == {"ttlSecondsAfterStarted": 3600}
    assert policy.defaults(manifests.validated(cloudshell(ttl=60)), OPEN) == {}
    assert policy.defaults(manifests.validated(cloudshell()), SETTINGS) == {}  # no bound
