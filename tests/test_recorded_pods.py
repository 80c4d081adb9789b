"""A recorded shell's pod as the operator renders it (the recording policy, manifests.py), its status when
the recorder cannot write (status.py), and the policy's settings: pure, no cluster.

The recorder itself, in front of a real ttyd: tests/integration/test_recorder.py; on the real control
plane: tests/integration/test_recording_on_cluster.py.
"""

import json
from datetime import datetime, timezone

import pytest

from jupyter_cloudtty.cloudshell.model import Phase
from jupyter_cloudtty.operator import manifests as m
from jupyter_cloudtty.operator import pool_objects, recorder
from jupyter_cloudtty.operator.settings import (
    HomeSettings,
    InvalidSettings,
    PoolSettings,
    RecordingSettings,
    Settings,
)
from jupyter_cloudtty.operator.status import Observed, next_status
from tests.harness.objects import cloudshell, container_of, pod_of

NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)
REQUIRED = Settings(image="registry.example/cloudshell:1", recording=RecordingSettings(mode="required"))
OPTIONAL = Settings(recording=RecordingSettings(mode="optional"))


def asked(**spec):
    """A shell whose creator asked for a recording (the Jupyter server's ``record``)."""
    shell = cloudshell(**spec)
    shell["metadata"]["annotations"] = {"jupyter-cloudtty.io/record": "true"}
    return shell


@pytest.mark.parametrize(
    "settings, shell, recorded",
    [(Settings(), asked(), False), (OPTIONAL, cloudshell(), False), (OPTIONAL, asked(), True),
     (REQUIRED, cloudshell(), True)],
)  # fmt: skip
def test_the_policy_says_which_shells_are_recorded(settings, shell, recorded):
    assert m.recorded(shell, settings) is recorded
    assert ("initContainers" in pod_of(m.job(shell, settings))) is recorded


def test_a_recorded_shell_s_ttyd_listens_on_a_socket_only_its_recorder_reaches():
    owned = cloudshell(commandAction="bash")
    owned["metadata"]["labels"] = {"jupyter-cloudtty.io/owner": "alice"}
    job = m.job(owned, REQUIRED)
    pod, shell = pod_of(job), container_of(job)
    # ttyd: on the socket, no port, no probes of a port it does not have.
    # ttyd makes its socket with umask 007 (the recorder reaches it through the pod's group); the shell
    # gets the usual umask back.
    assert "umask 007; ttyd -b" in shell["command"][2]
    assert shell["command"][4:] == ["-W", "-i", "/run/ttyd/ttyd.sock", "sh", "-c", 'umask 022; exec sh -c "$0"', "bash"]
    assert "ports" not in shell and "readinessProbe" not in shell and "livenessProbe" not in shell
    assert shell["volumeMounts"] == [{"name": "ttyd-socket", "mountPath": "/run/ttyd"}]
    (sidecar,) = pod["initContainers"]
    assert sidecar["name"] == "recorder" and sidecar["restartPolicy"] == "Always"  # a native sidecar
    assert sidecar["image"] == "registry.example/cloudshell:1"  # the administrator's image: python3 and websockets
    assert sidecar["terminationMessagePolicy"] == "FallbackToLogsOnError"
    # The pod's ttyd port is the recorder's: the Service, the NetworkPolicy and every client reach it alone.
    assert sidecar["ports"] == [{"name": "ttyd", "containerPort": 7681, "protocol": "TCP"}]
    assert sidecar["readinessProbe"]["httpGet"] == {"path": recorder.READY_PATH, "port": "ttyd"}
    # The claim is mounted in the recorder alone.
    assert sidecar["volumeMounts"] == [{"name": "ttyd-socket", "mountPath": "/run/ttyd"},
                                       {"name": "recordings", "mountPath": "/recordings"}]  # fmt: skip
    claim = {"claimName": "cloudshell-recordings"}
    assert pod["volumes"] == [{"name": "ttyd-socket", "emptyDir": {}},
                              {"name": "recordings", "persistentVolumeClaim": claim}]  # fmt: skip
    # Pod Security "restricted", as the shell's container; the claim writable by the recorder's group.
    assert sidecar["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                          "runAsUser": 1000, "runAsNonRoot": True}  # fmt: skip
    assert pod["securityContext"]["fsGroup"] == 1000 and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["shareProcessNamespace"] is False  # whatever a jobTemplate says
    args = sidecar["command"][5:]
    assert sidecar["command"][:3] == ["python3", "-I", "-c"]
    assert args == ["--listen", "$(POD_IPS)", "--port", "7681", "--ttyd-socket", "/run/ttyd/ttyd.sock",
                    "--folder", "/recordings/team", "--shell", "s1", "--owner", "alice",
                    "--spec", '{"commandAction": "bash"}']  # fmt: skip


def test_the_recorder_ships_as_source_with_every_dollar_kept_from_the_kubelet():
    shell = cloudshell(commandAction="echo $(HOME) $$", env=[{"name": "SECRET", "value": "hunter2"}])
    command = m.recorder_command(shell, REQUIRED)
    sources = json.loads(command[4].replace("$$", "$"))  # what the kubelet hands python3
    assert list(sources) == ["jupyter_cloudtty.cloudshell.recording", "__main__"]
    assert sources["__main__"] == (m.files("jupyter_cloudtty.operator") / "recorder.py").read_text()
    spec = json.loads(command[command.index("--spec") + 1].replace("$$", "$"))
    # The header's spec: env values may be secrets, and stay out of the pod's spec too.
    assert spec == {"commandAction": "echo $(HOME) $$", "env": [{"name": "SECRET"}]}
    assert "hunter2" not in json.dumps(command)


def test_input_is_recorded_only_when_the_administrator_asks():
    assert "--input" not in m.recorder_command(cloudshell(), REQUIRED)
    typed = Settings(recording=RecordingSettings(mode="required", record_input=True))
    assert m.recorder_command(cloudshell(), typed)[-1] == "--input"


def test_the_recorder_is_the_administrator_s_whatever_the_shell_asks():
    """A user may pick the shell's image and user (within the policy): never the recorder's, which holds
    every recording of the namespace."""
    template = {"spec": {"template": {"spec": {"shareProcessNamespace": True}}}}
    settings = Settings(image="registry.example/cloudshell:1", job_template=template,
                        recording=RecordingSettings(mode="required"))  # fmt: skip
    for spec in ({"runAsUser": "root"}, {"runAsUser": "4242"}, {"image": "registry.example/mine:1"}):
        pod = pod_of(m.job(cloudshell(**spec), settings))
        (sidecar,) = pod["initContainers"]
        assert sidecar["image"] == "registry.example/cloudshell:1"
        assert sidecar["securityContext"]["runAsUser"] == 1000
        assert pod["shareProcessNamespace"] is False
    mine = Settings(recording=RecordingSettings(mode="required", image="registry.example/recorder:2"))
    assert pod_of(m.job(cloudshell(), mine))["initContainers"][0]["image"] == "registry.example/recorder:2"


def test_a_recorded_shell_never_starts_in_a_pool_pod():
    settings = Settings(recording=RecordingSettings(mode="required"), pool=PoolSettings({"team": 2}))
    assert pool_objects.misfit(cloudshell(), settings) == (
        "Recorded",
        "it is recorded, by a recorder in front of its ttyd, which a running pod cannot add",
    )


def test_the_operator_s_constants_are_the_recorder_s():
    assert (m.RECORDER_READY_PATH, m.NOT_RECORDED_EXIT) == (recorder.READY_PATH, recorder.NOT_RECORDED_EXIT)


def recorder_pod(phase="Running", deleting=False, **recorder):
    meta = {"name": "s1-a", **({"deletionTimestamp": "2026-12-07T00:00:00Z"} if deleting else {})}
    return {"metadata": meta, "status": {"phase": phase, "initContainerStatuses": [{"name": "recorder", **recorder}]}}


def test_a_recorder_that_stops_fails_the_shell_whatever_stopped_it():
    """Restarted, it would have left the pod's port free for a while: the shell does not go on."""
    killed = recorder_pod(restartCount=1, state={"running": {}},
                          lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled"}})  # fmt: skip
    status = next_status(cloudshell(), Observed(pods=[killed]), REQUIRED, NOW, Phase.CREATED_ROUTE_RULE)
    failed = status["conditions"][-1]
    words = "not recorded: its recorder stopped (exit code 137, OOMKilled), so its sessions would no longer be recorded"
    assert (failed["reason"], failed["message"]) == ("NotRecorded", words)
    # A pod that ends (deleted, or its shell done) stops its recorder too: nothing to say.
    for ending in (recorder_pod(deleting=True, state={"terminated": {"exitCode": 143}}),
                   recorder_pod(phase="Succeeded", state={"terminated": {"exitCode": 143}})):  # fmt: skip
        assert next_status(cloudshell(), Observed(pods=[ending]), REQUIRED, NOW)["phase"] != Phase.FAILED


def test_the_recorded_condition_says_what_the_pod_runs():
    job = {"spec": {"template": {"spec": {"initContainers": [{"name": "recorder"}]}}}}
    # The policy turned off since it started: still recorded.
    status = next_status(cloudshell(), Observed(job=job), Settings(), NOW, Phase.CREATED_JOB)
    assert "Recorded" in [c["type"] for c in status["conditions"]]
    # Turned on since: not recorded (its pod has no recorder).
    unrecorded = next_status(cloudshell(), Observed(job={"spec": {}}), REQUIRED, NOW, Phase.CREATED_JOB)
    assert "Recorded" not in [c["type"] for c in unrecorded["conditions"]]


def test_a_recorder_that_cannot_write_fails_the_shell_with_its_words():
    words = "not recorded: cannot write recordings in /recordings/team: Permission denied"
    crashing = {"metadata": {"name": "s1-a"}, "status": {"phase": "Pending", "initContainerStatuses": [{
        "name": "recorder", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 73, "reason": "Error", "message": words}}}]}}  # fmt: skip
    status = next_status(cloudshell(), Observed(pods=[crashing]), REQUIRED, NOW, Phase.CREATED_ROUTE_RULE)
    assert status["phase"] == Phase.FAILED
    failed = status["conditions"][-1]
    assert (failed["type"], failed["reason"], failed["message"]) == ("Failed", "NotRecorded", words)


@pytest.mark.parametrize(
    "config, error",
    [({"mode": "always"}, "recording.mode: one of off, optional, required, got 'always'"),
     ({"claimName": ""}, "recording.claimName: the PersistentVolumeClaim recordings go to; give its name"),
     ({"runAsUser": 0}, "recording.runAsUser: not root (0): the pod runs under Pod Security 'restricted'"),
     ({"recordinput": True}, "recording.recordinput: unknown setting (known: claimName, fsGroup, image, mode, "
                             "recordInput, resources, runAsUser)")],
)  # fmt: skip
def test_bad_recording_settings_are_refused_naming_the_key(config, error):
    with pytest.raises(InvalidSettings) as refused:
        Settings.from_config({"recording": config})
    assert str(refused.value) == error


def test_one_fs_group_for_a_pod_with_a_home_and_a_recorder():
    with pytest.raises(InvalidSettings, match="^recording.fsGroup: a pod has one fsGroup, and home.fsGroup is 100 "):
        Settings.from_config({"home": {"enabled": True, "fsGroup": 100}, "recording": {"mode": "required"}})
    both = Settings(home=HomeSettings(enabled=True), recording=RecordingSettings(mode="required"))
    owned = cloudshell()
    owned["metadata"]["labels"] = {"jupyter-cloudtty.io/owner": "alice"}
    pod_spec = pod_of(m.job(owned, both))
    assert [v["name"] for v in pod_spec["volumes"]] == ["home", "ttyd-socket", "recordings"]
    assert pod_spec["securityContext"]["fsGroup"] == 1000


def test_a_recorded_shell_says_so_in_its_status():
    status = next_status(cloudshell(), Observed(), REQUIRED, NOW, Phase.CREATED_JOB)
    (recorded,) = [c for c in status["conditions"] if c["type"] == "Recorded"]
    assert (recorded["status"], recorded["reason"]) == ("True", "RecordingPolicy")
    assert recorded["message"] == "its sessions are recorded in its pod, to cloudshell-recordings: every shell is"
    unrecorded = next_status(cloudshell(), Observed(), OPTIONAL, NOW, Phase.CREATED_JOB)
    assert "Recorded" not in [c["type"] for c in unrecorded["conditions"]]
