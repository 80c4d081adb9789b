"""The one Kubernetes client layer: credentials, generic REST calls, retry timing, errors users understand."""
