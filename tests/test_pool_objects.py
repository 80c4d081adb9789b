"""The warm pool's pure parts: its pods hold no one's secret, which shells fit, what a claim writes,
and the assignment a claimed pod's agent gets, run by a real sh as agent.sh runs it."""

from __future__ import annotations

import base64
import subprocess
from datetime import datetime, timezone

import pytest
import yaml

from jupyter_cloudtty.cloudshell import names
from jupyter_cloudtty.operator import manifests as m
from jupyter_cloudtty.operator import pool_objects as p
from jupyter_cloudtty.operator.settings import HomeSettings, InvalidSettings, PoolSettings, Settings
from jupyter_cloudtty.operator.status import Observed, next_status
from tests.harness import chart
from tests.harness.objects import cloudshell

POOLED = Settings(image="registry.example/cloudshell:1", pool=PoolSettings({"team": 2}, max_pods=5))


def validated(**spec):
    return m.validated(cloudshell(**spec))


def test_a_pool_pod_is_a_shell_pod_without_any_shell_in_it():
    pod = p.pool_pod("team", "cloudshell-pool-ab12", POOLED)
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"][names.POOL_LABEL] == p.key(POOLED)
    assert meta["labels"][names.POOL_POD_LABEL] == "cloudshell-pool-ab12"
    assert names.SHELL_LABEL not in meta["labels"] and "ownerReferences" not in meta
    assert spec["serviceAccountName"] == "cloudshell-pool-ab12"  # its own, bound to nothing until claimed
    assert spec["restartPolicy"] == "Never"  # the Job that adopts it needs that
    (container,) = spec["containers"]
    assert container["image"] == "registry.example/cloudshell:1"
    assert container["command"][:2] == ["sh", "-c"] and container["command"][3:] == ["ttyd"]
    env = {var["name"]: var for var in container["env"]}
    # The agent token from its own Secret; nothing else but what every shell pod has.
    assert env[p.AGENT_TOKEN] == {"name": p.AGENT_TOKEN, "valueFrom": {"secretKeyRef": {
        "name": "cloudshell-pool-ab12", "key": "token"}}}  # fmt: skip
    assert set(env) == {"POD_NAME", "POD_NAMESPACE", "CONTAINER", "PS1", p.AGENT_TOKEN}
    # Pod Security "restricted" and the shells' resources, as every shell pod.
    assert spec["securityContext"] == m.POD_SECURITY
    assert container["securityContext"] == m.CONTAINER_SECURITY
    assert container["resources"] == POOLED.resources
    assert container["readinessProbe"]["tcpSocket"] == {"port": "ttyd"}


def test_the_admin_s_job_template_reaches_pool_pods_and_changes_their_key():
    template = {"spec": {"template": {"metadata": {"labels": {"team": "a"}},
                                      "spec": {"nodeSelector": {"pool": "shells"}}}}}  # fmt: skip
    custom = Settings(image=POOLED.image, pool=POOLED.pool, job_template=template)
    pod = p.pool_pod("team", "cloudshell-pool-1", custom)
    assert pod["spec"]["nodeSelector"] == {"pool": "shells"} and pod["metadata"]["labels"]["team"] == "a"
    assert p.key(custom) != p.key(POOLED)
    assert p.key(Settings(image="other:2", pool=POOLED.pool)) != p.key(POOLED)
    assert p.key(Settings(image=POOLED.image)) == p.key(POOLED)  # sizes are not the template


def test_the_agent_secret_goes_with_the_service_account_which_goes_with_the_pod():
    account = p.service_account("team", "cloudshell-pool-1")
    account["metadata"]["uid"] = "sa-uid"
    secret = p.agent_secret(account, "agent-t0ken")
    assert secret["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "ServiceAccount", "name": "cloudshell-pool-1", "uid": "sa-uid"}]  # fmt: skip
    assert base64.b64decode(secret["data"]["token"]).decode() == "agent-t0ken" and secret["immutable"]


def test_pool_pods_answer_only_the_shells_peers():
    policy = p.network_policy("team", POOLED)
    assert policy["spec"]["podSelector"] == {"matchExpressions": [{"key": names.POOL_LABEL, "operator": "Exists"}]}
    assert policy["spec"]["ingress"] == m.network_policy(validated(), POOLED)["spec"]["ingress"]


@pytest.mark.parametrize(
    ("spec", "reason", "words"),
    [
        ({"image": "other/image:2"}, "ImageDiffers", "its image other/image:2 is not the pool's"),
        ({"runAsUser": "1001"}, "RunAsUser", "spec.runAsUser"),
        ({"secretRef": {"name": "kc"}}, "Kubeconfig", "kubeconfig is mounted"),
        ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}, "EnvValueFrom",
         "env A is read by the kubelet"),
        ({"env": [{"name": "my.var", "value": "1"}]}, "EnvName", "'my.var' is not a name a shell can export"),
    ],
)  # fmt: skip
def test_a_shell_that_needs_what_a_running_pod_cannot_take_starts_cold(spec, reason, words):
    found = p.misfit(validated(**spec), POOLED)
    assert found is not None and found[0] == reason and words in found[1], found


def test_which_shells_fit_the_pool():
    assert p.misfit(validated(image="registry.example/cloudshell:1", commandAction="htop", once=True,
                              env=[{"name": "A", "value": "x"}]), POOLED) is None  # fmt: skip
    assert p.misfit(validated(), Settings())[0] == "NoPool"
    assert p.misfit(m.validated(cloudshell(namespace="elsewhere")), POOLED)[0] == "NoPool"
    homes = Settings(image=POOLED.image, pool=POOLED.pool, home=HomeSettings(enabled=True))
    owned = validated()
    owned["metadata"]["labels"] = {names.OWNER_LABEL: "alice"}
    assert p.misfit(owned, homes)[0] == "Home"
    assert p.misfit(validated(), homes) is None  # no owner, no home


def test_a_claim_is_conditional_on_the_pod_as_it_was_seen():
    pod = p.pool_pod("team", "cloudshell-pool-1", POOLED)
    pod["metadata"]["resourceVersion"] = "4711"
    patch = p.claim_patch(validated(), pod)
    assert patch["metadata"]["resourceVersion"] == "4711"
    assert patch["metadata"]["labels"] == {names.SHELL_LABEL: "s1"}
    # Deleted with its shell even before a Job adopts it; not its controller (the Job will be).
    (owner,) = patch["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("CloudShell", "s1", False)


def test_a_claimed_pool_pod_s_job_adopts_it_and_binds_its_account():
    pod = p.pool_pod("team", "cloudshell-pool-1", POOLED)
    objects = {o["kind"]: o for o in m.owned_objects(validated(), POOLED, "tok", pool_pod=pod)}
    job = objects["Job"]
    assert job["spec"]["manualSelector"] is True
    assert job["spec"]["selector"] == {"matchLabels": {names.POOL_POD_LABEL: "cloudshell-pool-1"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {names.SHELL_LABEL: "s1",
                                                              names.POOL_POD_LABEL: "cloudshell-pool-1"}  # fmt: skip
    # A lost pod's replacement is a cold one, with the shell's own ServiceAccount.
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "cloudshell-s1"
    assert [s["name"] for s in objects["RoleBinding"]["subjects"]] == ["cloudshell-s1", "cloudshell-pool-1"]
    cold = {o["kind"]: o for o in m.owned_objects(validated(), POOLED, "tok")}
    assert "manualSelector" not in cold["Job"]["spec"]
    assert [s["name"] for s in cold["RoleBinding"]["subjects"]] == ["cloudshell-s1"]


def test_the_assignment_gives_the_shell_its_token_env_and_flags_exactly(tmp_path):
    shell = validated(
        commandAction="bash -l", once=True, ttydClientOptions={"fontSize": "20"},
        env=[{"name": "QUOTED", "value": "it's \"$HOME\" `x`\nline two"}, {"name": "TTYD_PING_INTERVAL", "value": "7"},
             {"name": "TTYD_CREDENTIAL", "value": "user:pw"}],
    )  # fmt: skip
    payload = p.assignment(shell, Settings(idle_timeout_seconds=60, pool=POOLED.pool), "the-t0ken")
    file = tmp_path / "assignment"
    file.write_bytes(payload)
    files = {name: tmp_path / name for name in ("ARGS", "SCRIPT", "ENV")}
    probe = '. "$0"; printf "%s\\0" "$@" > "$ARGS"; printf "%s" "$u" > "$SCRIPT"; env -0 > "$ENV"'
    subprocess.run(["sh", "-c", probe, str(file), "-i", "10.244.0.9"], check=True,
                   env={"PATH": "/usr/bin:/bin", **{k: str(v) for k, v in files.items()}})  # fmt: skip
    args = files["ARGS"].read_bytes().split(b"\0")[:-1]
    env = dict(line.split("=", 1) for line in files["ENV"].read_text().split("\0") if "=" in line)
    # ttyd's flags after the agent's own (the tests' node gives -i), the kubelet's $(VAR) resolved.
    cold_script, cold_args = m.ttyd_invocation(shell, 60, {"TTYD_PING_INTERVAL": "7"})
    assert [a.decode() for a in args] == ["-i", "10.244.0.9", *cold_args]
    assert "--ping-interval" in cold_args and "7" in cold_args and "-o" in cold_args
    assert files["SCRIPT"].read_text() == cold_script  # the cold pod's own script, idle rule and all
    assert env["QUOTED"] == 'it\'s "$HOME" `x`\nline two'
    assert env["TTYD_TOKEN"] == "the-t0ken" and env["TTYD_CREDENTIAL"] == "user:pw"


def test_the_assignment_is_typed_as_whole_base64_lines_then_end_of_file():
    payload = b"x" * 1000
    typed = p.typed(payload)
    assert typed.endswith(b"\r\x04") and b"\n" not in typed
    lines = typed[:-1].split(b"\r")[:-1]
    assert all(len(line) <= 76 for line in lines)  # a terminal's line, well under its 4095 bytes
    assert base64.b64decode(b"".join(lines)) == payload


def test_the_warm_start_is_said_in_the_status_and_kept():
    now = datetime(2026, 12, 6, tzinfo=timezone.utc)
    shell = validated()
    observed = Observed(start=(False, "PoolEmpty", "no pod of the pool was ready"))
    status = next_status(shell, observed, POOLED, now)
    assert status["start"] == "Cold"
    (said,) = [c for c in status["conditions"] if c["type"] == "WarmStart"]
    assert (said["status"], said["reason"], said["message"]) == ("False", "PoolEmpty", "no pod of the pool was ready")
    later = next_status({**shell, "status": status}, Observed(), POOLED, now)  # a restarted operator: from the status
    assert later["start"] == "Cold" and said in later["conditions"]
    assert "start" not in next_status(shell, Observed(), Settings(), now)  # no pool: nothing said


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"pool": {"namespaces": {"team": -1}}}, "pool.namespaces.team: must be 0 or more"),
        ({"pool": {"namespaces": ["team"]}}, "pool.namespaces: must be dict"),
        ({"pool": {"maxPods": "20"}}, "pool.maxPods: must be int"),
        ({"pool": {"size": 3}}, "pool.size: unknown setting"),
        ({"pool": {"connectVia": "service"}}, "pool.connectVia: 'direct' or 'apiserver', got 'service'"),
    ],
)
def test_bad_pool_settings_name_the_key(config, message):
    with pytest.raises(InvalidSettings, match=f"^{message}"):
        Settings.from_config(config)


def test_the_chart_s_pool_values_reach_the_operator_with_the_rights_it_needs():
    values = {"pool": {"namespaces": {"shells": 3}, "maxPods": 5}}

    def rendered(values):
        objects = chart.render(values)
        (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"]
        (role,) = [o for o in objects if o["kind"] == "Role"]
        settings = Settings.from_config(yaml.safe_load(config_map["data"]["config.yaml"]))
        return settings, {(resource, verb) for r in role["rules"] for resource in r["resources"] for verb in r["verbs"]}

    settings, rights = rendered(values)
    assert (settings.pool.namespaces, settings.pool.max_pods, settings.pool.connect_via) == ({"shells": 3}, 5, "direct")
    # The pool's NetworkPolicy admits the operator's own pods, which hand claimed pods their shells.
    (peer,) = settings.pool.operator_peers
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "shells"}}
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    assert peer in p.network_policy("shells", settings)["spec"]["ingress"][0]["from"]
    assert {("pods", v) for v in ("list", "watch", "get", "create", "patch", "delete")} <= rights
    assert ("serviceaccounts", "patch") in rights and not any(r == "pods/proxy" for r, _ in rights)
    _, through = rendered({"pool": {**values["pool"], "connectVia": "apiserver"}})
    assert ("pods/proxy", "get") in through  # only for a handover through the API server
    # Without a pool, none of it.
    _, plain = rendered({})
    assert {v for r, v in plain if r == "pods"} == {"list", "watch"} and ("serviceaccounts", "patch") not in plain
    with pytest.raises(Exception, match="pool.namespaces.other: the operator does not watch that namespace"):
        chart.render({"pool": {"namespaces": {"other": 1}}})
    with pytest.raises(Exception, match="the warm pool needs replicas: 1"):
        chart.render({**values, "replicas": 2})


class Deletes:
    """A cluster that only records deletions (what _choose_start may do)."""

    def __init__(self):
        self.deleted = []

    def delete(self, kind, namespace, name):
        self.deleted.append((kind, namespace, name))
        return True


async def test_a_pod_claimed_by_an_earlier_run_is_deleted_and_the_shell_starts_cold():
    """The operator restarted between a claim and the shell's Job: the pod's agent token went with the
    old run, so the pod cannot be handed the shell. It goes; the shell starts cold, and says why."""
    from jupyter_cloudtty.operator.indexes import Cache
    from jupyter_cloudtty.operator.metrics import Metrics
    from jupyter_cloudtty.operator.pool import Pool
    from jupyter_cloudtty.operator.reconciler import Memory, Reconciler

    cluster, metrics = Deletes(), Metrics()
    reconciler = Reconciler(cluster, POOLED, pool=Pool(cluster, POOLED, metrics), metrics=metrics)
    claimed = p.pool_pod("team", "cloudshell-pool-1", POOLED)
    claimed["metadata"]["labels"][names.SHELL_LABEL] = "s1"
    cache = Cache(owned={("team", "s1"): [{"kind": "Pod", **claimed}]}, endpoint_slices={}, nodes={},
                  shared_routes={}, unmountable={})  # fmt: skip
    memory = Memory()
    await reconciler._choose_start(validated(), cache, memory)
    assert cluster.deleted == [("Pod", "team", "cloudshell-pool-1")]
    assert (memory.start.pooled, memory.start.reason) == (False, "HandoverInterrupted") and memory.claimed is None
    assert metrics.misses.labels("team", "HandoverInterrupted")._value.get() == 1


class Failing:
    """A cluster whose API server answers every patch with a 500."""

    def patch(self, *args):
        from kubernetes.client.exceptions import ApiException

        raise ApiException(status=500, reason="Internal Server Error")


async def test_a_claim_the_api_server_failed_leaves_the_pod_to_the_pool():
    from kubernetes.client.exceptions import ApiException

    from jupyter_cloudtty.operator.metrics import Metrics
    from jupyter_cloudtty.operator.pool import Pool

    pool = Pool(Failing(), POOLED, Metrics())
    pod = p.pool_pod("team", "cloudshell-pool-1", POOLED)
    pod["metadata"].update(resourceVersion="1", creationTimestamp="2026-12-06T00:00:00Z")
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    pool.tokens[("team", "cloudshell-pool-1")] = "agent"
    pool.seen("ADDED", pod)
    with pytest.raises(ApiException):
        await pool.claim(validated())
    assert pool.claiming == set()  # the next pass (kopf retries it) may claim it again
    assert [q["metadata"]["name"] for q in pool.unclaimed("team")] == ["cloudshell-pool-1"]
