"""The shared contract: the CloudShell resource (its CRD, spec, names, status) as every program reads it.

Pure: no I/O, nothing of ours imported but this package. The server, the operator and the kernel all
build on it; it builds on nothing of theirs.
"""

GROUP = "cloudshell.cloudtty.io"
VERSION = "v1alpha1"
PLURAL = "cloudshells"
KIND = "CloudShell"
API_VERSION = f"{GROUP}/{VERSION}"
