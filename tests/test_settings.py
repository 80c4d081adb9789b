"""The operator's configuration, as Helm renders it."""

import pytest
import yaml

from jupyter_cloudtty.operator.settings import (
    GatewayRef,
    InvalidSettings,
    NetworkPolicySettings,
    Settings,
    ShellPolicy,
    UserNamespaces,
)
from tests.harness import chart


def test_defaults():
    settings = Settings.from_config(None)
    assert settings == Settings()
    assert settings.shell_role == ("ClusterRole", "view")  # read-only, unless the admin says otherwise


def test_a_full_config():
    settings = Settings.from_config(
        {
            "image": "corp/shell:1",
            "kubeconfigKey": "kubeconfig",
            "featureGates": {"AllowSecretStoreKubeconfig": True},
            "shellRole": {"kind": "ClusterRole", "name": "cluster-admin"},
            "jobTemplate": {"spec": {"template": {"spec": {"nodeSelector": {"a": "b"}}}}},
            "ttlSecondsAfterFinished": 60,
            "gateway": {"name": "gw", "namespace": "infra", "sectionName": "https", "hostname": "h", "https": True},
            "retryBackoffSeconds": 2,
            "maxRetryBackoffSeconds": 120,
            "requestTimeoutSeconds": 15.5,
        }
    )
    assert settings.image == "corp/shell:1" and settings.kubeconfig_key == "kubeconfig"
    assert settings.allow_secret_store_kubeconfig is True
    assert settings.shell_role == ("ClusterRole", "cluster-admin")
    assert settings.job_template == {"spec": {"template": {"spec": {"nodeSelector": {"a": "b"}}}}}
    assert settings.ttl_seconds_after_finished == 60
    assert settings.gateway == GatewayRef("gw", "infra", "https", "h", True)
    assert (settings.retry_backoff, settings.max_retry_backoff, settings.request_timeout) == (2.0, 120.0, 15.5)


def test_the_shell_policy_and_pod_settings_as_the_chart_passes_them():
    settings = Settings.from_config(
        {
            "policy": {"allowedImages": ["corp/*"], "allowRoot": True, "kubeconfigSecrets": ["kc"],
                       "kubeconfigConfigMaps": ["cm"], "allowEnvValueFrom": True,
                       "exposureModes": ["ClusterIP", "Ingress"], "maxTtlSeconds": 3600},
            "resources": {"limits": {"memory": "1Gi"}},
            "networkPolicy": {"enabled": False, "allowFrom": [{"namespaceSelector": {}}]},
            "ingressAnnotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"},
            "userNamespaces": {"enabled": True, "serviceAccount": "hub-user", "clusterRole": "rel-jupyter"},
        }
    )  # fmt: skip
    assert settings.policy == ShellPolicy(("corp/*",), True, ("kc",), ("cm",), True, ("ClusterIP", "Ingress"), 3600)
    assert settings.resources == {"limits": {"memory": "1Gi"}}
    assert settings.network_policy == NetworkPolicySettings(False, ({"namespaceSelector": {}},))
    assert settings.ingress_annotations == {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"}
    assert settings.user_namespaces == UserNamespaces(True, "jupyter-cloudtty.io/owner", "hub-user", "rel-jupyter")


def test_the_default_policy_is_the_strict_one():
    policy = Settings.from_config({}).policy
    assert policy == ShellPolicy() and policy.exposure_modes == ("ClusterIP",)
    assert not (policy.allowed_images or policy.allow_root or policy.allow_env_value_from)
    assert Settings.from_config({}).network_policy.enabled is True


@pytest.mark.parametrize(
    "config, message",
    [
        ({"imgae": "x"}, "imgae: unknown setting"),
        ({"policy": {"allowRoots": True}}, "policy.allowRoots: unknown setting"),
        ({"policy": {"exposureModes": ["LoadBalancer"]}}, "policy.exposureModes: 'LoadBalancer' is not a mode"),
        ({"policy": {"maxTtlSeconds": -1}}, "policy.maxTtlSeconds: must be 0"),
        ({"policy": {"allowedImages": "corp/*"}}, "policy.allowedImages: must be list"),
        ({"networkPolicy": {"allowFrom": ["everyone"]}}, "networkPolicy.allowFrom.0.: must be dict"),
        ({"userNamespaces": {"enabled": True}}, "userNamespaces.clusterRole: required"),
        ({"image": 5}, "image: must be str"),
        ({"featureGates": {"Nope": True}}, "featureGates.Nope: unknown gate"),
        (
            {"featureGates": {"AllowSecretStoreKubeconfig": "yes"}},
            "featureGates.AllowSecretStoreKubeconfig: must be bool",
        ),
        ({"shellRole": {"kind": "Group", "name": "x"}}, "shellRole: give"),
        ({"gateway": {"name": "gw"}}, "gateway.namespace: must be str"),
        ({"ttlSecondsAfterFinished": True}, "ttlSecondsAfterFinished: must be int"),
        ({"jobTemplate": []}, "jobTemplate: must be dict"),
        ({"retryBackoffSeconds": 0}, "retryBackoffSeconds: must be a positive number of seconds"),
        ({"requestTimeoutSeconds": "30s"}, "requestTimeoutSeconds: must be a positive number of seconds"),
        ({"policy": {"allowedImage": ["x"]}}, "policy.allowedImage: unknown setting"),
        ({"policy": {"exposureModes": ["Nodeport"]}}, "policy.exposureModes: 'Nodeport' is not a mode"),
        ({"policy": {"allowedImages": "x:*"}}, "policy.allowedImages: must be list"),
        ({"policy": {"allowRoot": "false"}}, "policy.allowRoot: must be bool"),
        ({"policy": {"maxTtlSeconds": -1}}, "policy.maxTtlSeconds: must be 0"),
        ({"networkPolicy": {"allowFrom": ["pods"]}}, r"networkPolicy.allowFrom\[0\]: must be dict"),
        ({"ingressAnnotations": {"a": 1}}, "ingressAnnotations.a: must be str"),
        ({"userNamespaces": {"enabled": True}}, "userNamespaces.clusterRole: required"),
    ],
)
def test_bad_settings_name_the_key(config, message):
    with pytest.raises(InvalidSettings, match=f"^{message}"):
        Settings.from_config(config)


def test_retries_back_off_exponentially_with_jitter_up_to_the_max():
    settings = Settings(retry_backoff=1.0, max_retry_backoff=60.0)
    for retry, ceiling in [(0, 1), (1, 2), (2, 4), (5, 32), (6, 60), (40, 60)]:
        delays = [settings.retry_delay(retry) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (retry, delays)
        assert len(set(delays)) > 1, "no jitter: a hub's clients would all come back at once"
    assert settings.retry_delay(0, retry_after=5) == 5  # a 429's Retry-After, at least
    assert settings.retry_delay(0, retry_after=600) <= 60


def test_the_defaults_are_the_secure_ones_and_the_chart_s_values_reach_the_operator():
    """Without a config (tests, a bare operator) the policy is the chart's default: ClusterIP only,
    no root, no foreign kubeconfig or valueFrom, the operator's image only; pods limited; a
    NetworkPolicy per shell. The chart's config map gives the same, and what its values change."""
    default = Settings()
    assert default.policy.exposure_modes == ("ClusterIP",) and not default.policy.allow_root
    assert default.policy.allowed_images == () and not default.policy.allow_env_value_from
    assert default.resources["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert default.network_policy.enabled and not default.user_namespaces.enabled

    def configured(values):
        (config_map,) = [o for o in chart.render(values) if o["kind"] == "ConfigMap"]
        return Settings.from_config(yaml.safe_load(config_map["data"]["config.yaml"]))

    assert configured({}).policy == default.policy
    assert configured({}).network_policy == default.network_policy
    wide = configured({"clusterWide": True, "jupyterServers": {"userNamespaces": {"enabled": True}},
                       "policy": {"exposureModes": ["ClusterIP", "Ingress"], "allowedImages": ["reg/*"]}})  # fmt: skip
    assert wide.policy.exposure_modes == ("ClusterIP", "Ingress") and wide.policy.allowed_images == ("reg/*",)
    assert wide.user_namespaces.enabled and wide.user_namespaces.cluster_role == "rel-operator-jupyter"
