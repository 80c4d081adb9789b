"""The shared contract: the CloudShell resource (its CRD, spec, names, status) as every program reads it,
and the formats they share (a recording's asciicast, written and read; a size as people read it).

Nothing of ours imported but this package, and pure but for recording.py's file. The server, the
operator and the kernel all build on it; it builds on nothing of theirs.
"""

GROUP = "cloudshell.cloudtty.io"
VERSION = "v1alpha1"
PLURAL = "cloudshells"
KIND = "CloudShell"
API_VERSION = f"{GROUP}/{VERSION}"
