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


def pod(name, phase="Running", ready=True, **extra):
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}] + extra.pop("conditions", [])
    return {"metadata": {"name": name, **extra.pop("metadata", {})}, "status": {"phase": phase,
            "conditions": conditions, **extra}}  # fmt: skip


SERVING = Observed(
    pods=[pod("s1-a")],
    service={"spec": {"clusterIP": "10.0.0.9", "ports": [{}]}},
    endpoint_slices=[{"endpoints": [{"conditions": {"ready": True}}]}],
)


def test_a_replaced_pod_is_said_with_why_the_old_one_went():
    shell = cloudshell()
    first = next_status(shell, SERVING, Settings(), NOW, Phase.CREATED_ROUTE_RULE)
    assert (first["phase"], first["podName"]) == (Phase.READY, "s1-a")
    assert "restarts" not in first and [c["type"] for c in first["conditions"]] == ["Ready"]
    # The pod is evicted: the shell is not Ready, and says why.
    shell["status"] = first
    evicted = pod("s1-a", phase="Failed", ready=False, metadata={"deletionTimestamp": "2026-11-25T00:00:01Z"},
                  conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                               "message": "Eviction API: evicting"}])  # fmt: skip
    gone = next_status(shell, Observed(pods=[evicted], service=SERVING.service), Settings(), NOW,
                       Phase.CREATED_ROUTE_RULE)  # fmt: skip
    ready, restarting = gone["conditions"]
    assert (gone["phase"], ready["reason"]) == (Phase.CREATED_ROUTE_RULE, "PodLost")
    assert ready["message"] == (
        "its pod s1-a is gone (EvictionByEvictionAPI: Eviction API: evicting); waiting for a new one"
    )
    assert (restarting["type"], restarting["status"], restarting["reason"]) == (
        "Restarted", "False", "EvictionByEvictionAPI")  # fmt: skip
    # Once removed, the old pod tells nothing more: what was said while it went stays.
    shell["status"] = gone
    assert next_status(shell, Observed(service=SERVING.service), Settings(), NOW,
                       Phase.CREATED_ROUTE_RULE)["conditions"][1] == restarting  # fmt: skip
    # A new pod serves it: Restarted, for the reason the old one went; the TTL's start stays.
    replaced = Observed(pods=[pod("s1-b")], service=SERVING.service, endpoint_slices=SERVING.endpoint_slices)
    again = next_status(shell, replaced, Settings(), NOW, Phase.CREATED_ROUTE_RULE)
    assert (again["phase"], again["podName"], again["restarts"]) == (Phase.READY, "s1-b", 1)
    assert again["lastScheduleTime"] == first["lastScheduleTime"]
    restarted = again["conditions"][-1]
    assert (restarted["type"], restarted["reason"]) == ("Restarted", "EvictionByEvictionAPI")
    assert restarted["message"].startswith("its pod s1-a was lost (EvictionByEvictionAPI: Eviction API: evicting); "
                                           "s1-b replaced it")  # fmt: skip
    # A pod deleted without a trace is said as deleted; the count goes on.
    shell["status"] = again
    third = next_status(shell, Observed(pods=[pod("s1-c")], service=SERVING.service,
                                        endpoint_slices=SERVING.endpoint_slices), Settings(), NOW)  # fmt: skip
    assert (third["restarts"], third["conditions"][-1]["reason"]) == (2, "PodDeleted")


def test_the_idle_rule_s_end_is_a_complete_shell_that_says_so():
    job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]}}
    ended = pod("s1-a", phase="Failed", ready=False, containerStatuses=[{"name": "web-tty", "state": {
        "terminated": {"exitCode": 75, "message": "no input or output for 600s\n"}}}])  # fmt: skip
    status = next_status(cloudshell(), Observed(job=job, pods=[ended]), Settings(), NOW)
    assert status["phase"] == Phase.COMPLETE
    (ready,) = status["conditions"]
    assert (ready["reason"], ready["message"]) == ("IdleTimeout", "no input or output for 600s")


def test_a_change_a_running_shell_cannot_take_is_refused_in_its_status():
    from jupyter_cloudtty.operator import manifests
    from jupyter_cloudtty.operator.settings import ShellPolicy

    settings = Settings(policy=ShellPolicy(max_ttl_seconds=3600))
    job = manifests.job(cloudshell(ttlSecondsAfterStarted=600), settings)
    changed = cloudshell(ttlSecondsAfterStarted=7200, image="other:1")
    status = next_status(changed, Observed(job=job), settings, NOW, Phase.CREATED_ROUTE_RULE)
    refused = status["conditions"][-1]
    assert (refused["type"], refused["reason"]) == ("SpecChangeRefused", "Immutable")
    assert refused["message"] == (
        "spec.image changed on a running shell and was not applied: only spec.ttlSecondsAfterStarted can change "
        "(delete the shell and create a new one); a TTL of 7200s is more than policy.maxTtlSeconds: the shell "
        "keeps 3600s"
    )
