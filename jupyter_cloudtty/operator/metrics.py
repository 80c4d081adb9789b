"""The operator's Prometheus metrics (``jupyter cloudtty operator --metrics=:9090``; the chart scrapes them).

One registry per operator (tests run several in a process), made by ``Metrics()``; ``serve`` starts
prometheus_client's own HTTP server for it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Seconds from the operator first seeing a CloudShell to Ready: a pool hit well under 1 s, a cold start seconds.
READY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pool_pods = Gauge(
            "cloudtty_pool_pods", "Pool pods not yet anyone's, by namespace and state (ready, starting)",
            ["namespace", "state"], registry=self.registry,
        )  # fmt: skip
        self.claims = Counter(
            "cloudtty_pool_claims", "Shells that started in a pool pod", ["namespace"], registry=self.registry
        )
        self.misses = Counter(
            "cloudtty_pool_misses", "Shells that started cold in a namespace with a pool, by reason",
            ["namespace", "reason"], registry=self.registry,
        )  # fmt: skip
        self.ready_seconds = Histogram(
            "cloudtty_shell_ready_seconds",
            "Seconds from the operator first seeing a CloudShell to Ready, by start (Pool, Cold)",
            ["start"], buckets=READY_BUCKETS, registry=self.registry,
        )  # fmt: skip

    def serve(self, address: str) -> None:
        """Serve /metrics at ``address`` (``host:port``, or ``:port`` for every interface)."""
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0", registry=self.registry)
