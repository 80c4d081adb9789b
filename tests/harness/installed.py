"""The Helm chart installed on the real control plane, its operator running as a process.

`async with Installed(control_plane, namespace, tmp_path, values) as release:` renders the chart with
Helm's engine for a release named after the namespace (so its cluster-wide objects are the test's
own), applies it with kubectl (CRDs excepted: the control_plane fixture installs the CloudShell
CRD), and runs `jupyter cloudtty operator` (the Deployment's command; the tests' node runs no
images) with a token of the chart's ServiceAccount: every request it makes passes real RBAC.
``release.log`` is what it printed. ``with`` works as well as ``async with`` (the browser tests are synchronous).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.harness.chart import render
from tests.harness.controlplane import ControlPlane, die_with_parent
from tests.harness.ports import free_port

NOT_APPLIED = {"CustomResourceDefinition", "Deployment"}


class Installed:
    def __init__(self, cluster: ControlPlane, namespace: str, workdir: Path, values: dict | None = None):
        self.cluster, self.namespace, self.workdir = cluster, namespace, Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.objects = render(values or {}, name=namespace, namespace=namespace)
        self._log = self.workdir / "operator.log"
        self._operator: subprocess.Popen | None = None

    @property
    def log(self) -> str:
        """What the operator printed, every run of it (read once it has stopped, or meanwhile)."""
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def kubeconfig_of(self, account: str, namespace: str | None = None) -> Path:
        """A kubeconfig with a token of ``account`` (a ServiceAccount), as a pod of it would hold."""
        return self.cluster.service_account_kubeconfig(namespace or self.namespace, account)

    def __enter__(self) -> Installed:
        applied = [o for o in self.objects if o["kind"] not in NOT_APPLIED]
        # By namespace: the release's own, and each other watched namespace's Role and RoleBinding.
        for where in sorted({o["metadata"].get("namespace") or self.namespace for o in applied}):
            items = [o for o in applied if (o["metadata"].get("namespace") or self.namespace) == where]
            self.cluster.kubectl("apply", "-n", where, "-f", "-",
                                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))  # fmt: skip
        [deployment] = [o for o in self.objects if o["kind"] == "Deployment"]
        [configmap] = [o for o in self.objects if o["kind"] == "ConfigMap"]
        config = self.workdir / "operator.yaml"
        config.write_text(configmap["data"]["config.yaml"])
        self._config = config
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        # What the Deployment watches (--namespace=... or --all-namespaces, by the chart's clusterWide).
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        self._scope = [a for a in args if a.startswith("--namespace=") or a == "--all-namespaces"]
        # Its metrics on a port of the loopback (the Deployment's is any address, in a pod's own network).
        self.metrics_url = None
        if any(a.startswith("--metrics=") for a in args):
            port = free_port()
            self._scope.append(f"--metrics=127.0.0.1:{port}")
            self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        self.operator_user = f"system:serviceaccount:{self.namespace}:{account}"  # as the API server knows it
        self._kubeconfig = self.kubeconfig_of(account)
        self.start_operator()
        return self

    def start_operator(self) -> None:
        with open(self._log, "ab") as log:  # the process holds its own descriptor
            self._operator = subprocess.Popen(
                [sys.executable, "-m", "jupyter_cloudtty", "operator", *self._scope, "--standalone",
                 f"--config={self._config}"],
                env={**os.environ, "KUBECONFIG": str(self._kubeconfig), "HOME": str(self.workdir)},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
            )  # fmt: skip

    def metrics(self) -> dict[str, float]:
        """The operator's metrics now, as Prometheus scrapes them: ``name{labels}`` -> value."""
        from prometheus_client.parser import text_string_to_metric_families

        assert self.metrics_url, "the chart's metrics.port is 0"
        with urllib.request.urlopen(self.metrics_url, timeout=10) as answer:
            text = answer.read().decode()
        found = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                found[f"{sample.name}{{{labels}}}"] = sample.value
        return found

    def stop_operator(self) -> None:
        """SIGTERM, as Kubernetes stops the Deployment's pod; returns once it has exited."""
        assert self._operator is not None
        self._operator.terminate()
        try:
            self._operator.wait(30)
        except subprocess.TimeoutExpired:
            self._operator.kill()
            self._operator.wait()
            raise AssertionError(f"the operator did not stop within 30 s of SIGTERM:\n{self.log[-3000:]}") from None

    def __exit__(self, *exc: object) -> None:
        self.stop_operator()
        # What `helm uninstall` removes and a namespace's deletion does not: the cluster-scoped
        # objects. A release's admission policy left behind would judge the next tests' shells
        # (exempting only this release's operator).
        kinds = sorted({o["kind"].lower() for o in self.objects
                        if o["kind"] not in NOT_APPLIED and "namespace" not in o["metadata"]})  # fmt: skip
        if kinds:
            self.cluster.kubectl("delete", ",".join(kinds), "-l", f"app.kubernetes.io/instance={self.namespace}",
                                 "--ignore-not-found", "--wait=false")  # fmt: skip

    async def __aenter__(self) -> Installed:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()
