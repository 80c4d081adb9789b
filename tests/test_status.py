"""A CloudShell's next status from what the cluster shows (operator/status.py), without a cluster."""

from datetime import datetime, timezone

from jupyter_cloudtty.cloudshell.model import Phase
from jupyter_cloudtty.operator.settings import Settings
from jupyter_cloudtty.operator.status import Observed, next_status
from tests.harness.objects import cloudshell

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def test_a_starting_shell_says_how_far_it_got_and_what_it_waits_for():
    status = next_status(cloudshell(), Observed(), Settings(), NOW, Phase.CREATED_JOB)
    assert status["phase"] == Phase.CREATED_JOB
    (ready,) = status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "Starting")
    assert ready["message"] == "waiting for the pod to be ready, a ready endpoint of the Service"


def test_a_kubeconfig_that_cannot_be_mounted_fails_the_shell_with_the_event_s_words():
    why = 'MountVolume.SetUp failed for volume "kubeconfig" : secret "nope" not found'
    shell = cloudshell(secretRef={"name": "nope"})
    status = next_status(shell, Observed(unmountable=why), Settings(), NOW, Phase.CREATED_ROUTE_RULE)
    assert status["phase"] == Phase.FAILED
    failed = status["conditions"][-1]
    assert (failed["type"], failed["reason"]) == ("Failed", "KubeconfigNotMounted")
    assert failed["message"] == f"the kubeconfig cannot be mounted: {why}"


def test_an_ignored_kubeconfig_is_said_while_the_shell_lives():
    shell, settings = cloudshell(configmapName="old"), Settings(allow_secret_store_kubeconfig=True)
    status = next_status(shell, Observed(), settings, NOW, Phase.CREATED_ROUTE_RULE)
    (ignored,) = [c for c in status["conditions"] if c["type"] == "KubeconfigIgnored"]
    assert ignored["reason"] == "FeatureGate" and "AllowSecretStoreKubeconfig" in ignored["message"]
    job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    ended = next_status(shell, Observed(job=job), settings, NOW, Phase.CREATED_ROUTE_RULE)
    assert [c["type"] for c in ended["conditions"]] == ["Ready", "Failed"]
