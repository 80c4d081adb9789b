"""The operator's configuration, as Helm renders it."""

import pytest

from jupyter_cloudtty.operator.settings import GatewayRef, InvalidSettings, Settings


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
        }
    )
    assert settings.image == "corp/shell:1" and settings.kubeconfig_key == "kubeconfig"
    assert settings.allow_secret_store_kubeconfig is True
    assert settings.shell_role == ("ClusterRole", "cluster-admin")
    assert settings.job_template == {"spec": {"template": {"spec": {"nodeSelector": {"a": "b"}}}}}
    assert settings.ttl_seconds_after_finished == 60
    assert settings.gateway == GatewayRef("gw", "infra", "https", "h", True)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"imgae": "x"}, "imgae: unknown setting"),
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
    ],
)
def test_bad_settings_name_the_key(config, message):
    with pytest.raises(InvalidSettings, match=f"^{message}"):
        Settings.from_config(config)
