"""Subcommands of `jupyter cloudtty` (which alone starts a server with the extension)."""

from __future__ import annotations

import sys

from jupyter_core.application import JupyterApp
from traitlets import Bool, List, Unicode


class CrdApp(JupyterApp):
    """Print the CloudShell CRD: `jupyter cloudtty crd | kubectl apply -f -`."""

    name = "jupyter-cloudtty-crd"
    description = __doc__

    def start(self) -> None:
        from .cloudshell.crd import crd_yaml

        sys.stdout.write(crd_yaml())


class OperatorApp(JupyterApp):
    """Run the CloudShell operator (kopf): `jupyter cloudtty operator --namespace=shells`."""

    name = "jupyter-cloudtty-operator"
    description = __doc__

    config_file = Unicode("", config=True, help="The operator's YAML settings (the Helm chart's ConfigMap).")
    namespaces = List(Unicode(), config=True, help="Namespaces to watch (repeat --namespace).")
    all_namespaces = Bool(False, config=True, help="Watch every namespace.")
    liveness = Unicode("", config=True, help="Liveness endpoint, e.g. http://0.0.0.0:8080/healthz.")
    metrics = Unicode("", config=True, help="Serve Prometheus metrics at /metrics on this address, e.g. :9090.")
    standalone = Bool(False, config=True, help="One replica only: no peering.")
    peering = Unicode("", config=True, help="The kopf peering object shared by the replicas.")

    aliases = {
        "config": "OperatorApp.config_file",
        "namespace": "OperatorApp.namespaces",
        "liveness": "OperatorApp.liveness",
        "metrics": "OperatorApp.metrics",
        "peering": "OperatorApp.peering",
    }
    flags = {
        "all-namespaces": ({"OperatorApp": {"all_namespaces": True}}, "Watch every namespace."),
        "standalone": ({"OperatorApp": {"standalone": True}}, "One replica only: no peering."),
    }

    def start(self) -> None:
        import logging

        import kopf
        import yaml

        from .kube import credentials
        from .kube.client import Cluster
        from .operator.handlers import make_registry
        from .operator.metrics import Metrics
        from .operator.settings import Settings

        if not self.all_namespaces and not self.namespaces:
            self.exit("give --namespace=NAME (repeatable) or --all-namespaces")
        raw = {}
        if self.config_file:
            with open(self.config_file) as f:
                raw = yaml.safe_load(f) or {}
        settings = Settings.from_config(raw)
        found = credentials.find()  # the pod's ServiceAccount, else a kubeconfig (kopf logs in the same way)
        if found is None:
            self.exit(
                "no cluster credentials: no in-cluster ServiceAccount, no kubeconfig at $KUBECONFIG or ~/.kube/config"
            )
        self.log.info("CloudShell operator with %s", found.source)
        # What `kopf run` does: kopf's and our handlers' records (a handler's failure, a retry, a
        # refused request) go to stderr with time, logger and level, where `kubectl logs` shows them.
        kopf.configure(debug=self.log_level <= logging.DEBUG)
        metrics = Metrics()
        if self.metrics:
            metrics.serve(self.metrics)
        registry = make_registry(settings, Cluster(found.client(), timeout=settings.request_timeout), metrics=metrics)
        kopf_settings = kopf.OperatorSettings()
        # No scanning of namespaces or CRDs: the chart grants neither (least privilege), so kopf would be
        # refused and warn on every start. The CRDs in use must exist when the operator starts.
        kopf_settings.scanning.disabled = True
        kopf.run(
            registry=registry,
            settings=kopf_settings,
            clusterwide=self.all_namespaces,
            namespaces=self.namespaces,
            liveness_endpoint=self.liveness or None,
            standalone=self.standalone or None,
            peering_name=self.peering or None,
        )
