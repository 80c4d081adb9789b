"""The defects of upstream CloudTTY that the spec says not to copy: one test each.

The operator-level ones (setup re-run on every reconcile, Ready before ttyd listens, a NodePort
outliving its shell, Failed never set) are exercised on the real control plane in
tests/integration/test_operator_cases_on_cluster.py; here each defect is checked where it would live.
"""

import json
from datetime import datetime, timezone

from jupyter_cloudtty.cloudshell.model import Phase
from jupyter_cloudtty.operator import manifests as m
from jupyter_cloudtty.operator.settings import Settings
from jupyter_cloudtty.operator.status import Observed, next_status
from tests.harness.objects import cloudshell, container_of, pod_of

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def test_setup_is_not_rerun_on_every_reconcile():
    # Objects are created only when the indexes miss them (reconciler._ensure); a settled status is not rewritten.
    shell = cloudshell()
    observed = Observed(pods=[], endpoint_slices=[])
    first = next_status(shell, observed, Settings(), NOW, Phase.CREATED_ROUTE_RULE)
    again = next_status({**shell, "status": first}, observed, Settings(), NOW, Phase.CREATED_ROUTE_RULE)
    assert again == first


def test_not_ready_before_ttyd_listens():
    pod = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}}
    status = next_status(cloudshell(), Observed(pods=[pod]), Settings(), NOW, Phase.CREATED_ROUTE_RULE)
    assert status["phase"] == Phase.CREATED_ROUTE_RULE
    assert container_of(m.job(cloudshell(), Settings()))["readinessProbe"]["tcpSocket"] == {"port": "ttyd"}


def test_no_empty_cluster_ip_url():
    assert m.access_url({"exposureMode": "ClusterIP"}, "/p", cluster_ip="") is None
    assert m.access_url({"exposureMode": "ClusterIP"}, "/p", cluster_ip=None) is None


def test_no_node_port_outlives_its_shell():
    # Garbage-collected with its shell; deleted when the shell ends (test_operator_cases_on_cluster's
    # test_an_ended_shell_gives_back_everything_it_held), so no later user reaches it.
    service = m.service(cloudshell())
    assert service["metadata"]["ownerReferences"] == [m.owner_reference(cloudshell())]


def test_no_open_ttyd_on_every_node_by_default():
    # CloudTTY's default (NodePort, no credential) put a writable terminal on every node's address.
    assert m.service(cloudshell())["spec"]["type"] == "ClusterIP"
    command = container_of(m.job(cloudshell(), Settings()))["command"]
    assert command[:2] == ["sh", "-c"] and '; ttyd -b /"$t" "$@"' in command[2]  # served under the shell's token only


def test_no_privileged_shell_pods_by_default():
    pod = pod_of(m.job(cloudshell(), Settings()))
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"]
    (container,) = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert container["resources"]["limits"]


def test_no_env_values_in_pod_specs():
    job = m.job(cloudshell(env=[{"name": "GITHUB_TOKEN", "value": "ghp_s3cret"}]), Settings())
    assert "ghp_s3cret" not in json.dumps(job)


def test_no_credentials_on_argv():
    job = m.job(
        cloudshell(env=[{"name": "TTYD_CREDENTIAL", "value": "u:secret"}], secretRef={"name": "kc"}), Settings()
    )
    command = json.dumps(container_of(job)["command"])
    assert "secret" not in command.replace("$TTYD_CREDENTIAL", "") and "kc" not in command


def test_shells_never_get_the_operators_token():
    assert pod_of(m.job(cloudshell(), Settings()))["serviceAccountName"] == "cloudshell-s1"
    assert pod_of(m.job(cloudshell(secretRef={"name": "kc"}), Settings()))["automountServiceAccountToken"] is False


def test_failed_is_set():
    job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    status = next_status(cloudshell(), Observed(job=job), Settings(), NOW, Phase.CREATED_ROUTE_RULE)
    assert status["phase"] == Phase.FAILED
    assert status["conditions"][-1]["type"] == "Failed" and status["conditions"][-1]["reason"] == "BackoffLimitExceeded"


def test_no_uppercase_default_object_name():
    for name in (m.DEFAULT_INGRESS, m.DEFAULT_VIRTUAL_SERVICE):
        assert name == name.lower()


def test_no_virtual_service_rewrite_yielding_double_slash_ws():
    route = m.virtual_service_route(cloudshell(pathPrefix="/x/", virtualServiceConfig={"gateway": "g"}))
    assert "rewrite" not in route
    assert "//" not in route["match"][0]["uri"]["prefix"] + "/ws"
