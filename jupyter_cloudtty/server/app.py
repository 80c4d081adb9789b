"""The Jupyter server extension: configuration (``c.CloudTTY.*``), routes and shutdown."""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import sys
from dataclasses import fields
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Dict, Enum, Float, Integer, List, Unicode, default

from jupyter_cloudtty._version import __version__
from jupyter_cloudtty.cloudshell.spec import EXPOSURE_MODES
from jupyter_cloudtty.server.backends.base import Backend
from jupyter_cloudtty.server.backends.local.backend import LocalBackend
from jupyter_cloudtty.server.backends.selection import BackendSettings, choose_backend
from jupyter_cloudtty.server.recordings import RecordingPolicy
from jupyter_cloudtty.server.transfers import Transfers

from .handlers import API_PATH, handlers


def login_shell() -> list[str]:
    """The user's login shell, run as a login shell when the server has no terminal.

    Like JupyterLab's terminals: a server started by a spawner has not sourced the
    user's profile, so ``-l`` does it.
    """
    shell = os.environ.get("SHELL") or pwd.getpwuid(os.getuid()).pw_shell or shutil.which("sh") or "/bin/sh"
    return [shell] if sys.stdout.isatty() else [shell, "-l"]


class CloudTTY(ExtensionApp):
    """Cloud shells in Jupyter: a REST API for shells and their terminals in ttyd's protocol."""

    name = "jupyter_cloudtty"
    version = __version__
    description = __doc__
    load_other_extensions = True
    subcommands = {
        "crd": (
            "jupyter_cloudtty.commands.CrdApp",
            "Print the CloudShell CRD (jupyter cloudtty crd | kubectl apply -f -).",
        ),
        "operator": ("jupyter_cloudtty.commands.OperatorApp", "Run the CloudShell operator (kopf)."),
    }

    max_shells = Integer(
        32,
        config=True,
        help="Most shells this server keeps at once (running or ended); creating more answers 429.",
    )
    scrollback_bytes = Integer(
        512 * 1024,
        config=True,
        help="Recent output kept per shell and replayed to a client that attaches later (bytes).",
    )
    shell_command = List(
        Unicode(),
        config=True,
        help="Command of a local shell whose spec has no commandAction (default: the user's login shell).",
    )
    working_dir = Unicode(
        config=True,
        help="Working directory of local shells (default: the server's root_dir).",
    )
    kill_timeout = Float(
        2.0,
        config=True,
        help="Seconds a shell's processes get to exit after SIGHUP before SIGKILL.",
    )
    handshake_timeout = Float(
        10.0,
        config=True,
        help="Seconds a terminal WebSocket may stay open without sending ttyd's handshake.",
    )

    owner = Unicode(
        config=True,
        help="Whose shells this server manages: the owner label and annotation of its CloudShells "
        "(default: $JUPYTERHUB_USER on JupyterHub, else the user the server runs as).",
    )

    backend = Enum(
        ["auto", "local", "kubernetes"],
        "auto",
        config=True,
        help="Where shells run. 'kubernetes': CloudShells in the cluster; 'local': PTYs on this machine; "
        "'auto': kubernetes when cluster credentials (in-cluster, or a kubeconfig) are found and "
        "CloudShells can be listed, else local. GET /cloudtty/api/info says which and why.",
    )
    kubeconfig = Unicode(
        "",
        config=True,
        help="The kubeconfig file(s) to use, outside a cluster (default: $KUBECONFIG, else ~/.kube/config).",
    )
    kube_context = Unicode("", config=True, help="The kubeconfig context to use (default: the current one).")
    namespace = Unicode(
        config=True,
        help="Namespace of the shells (default: the pod's own namespace in a cluster, else the "
        "kubeconfig context's, else 'default').",
    )
    namespace_template = Unicode(
        "",
        config=True,
        help="A namespace per user, e.g. 'shells-{username}' ({username}: the owner, DNS-safe); "
        "overrides namespace. The namespaces must exist and the operator must watch them.",
    )
    default_image = Unicode("", config=True, help="Image of shells whose request names none (default: the operator's).")
    allowed_images = List(
        Unicode(),
        config=True,
        help="Images a request may name (shell-style patterns, e.g. 'registry.example.com/shells/*'); "
        "empty: requests may not choose an image.",
    )
    max_ttl = Integer(
        0,
        config=True,
        help="Longest lifetime a request may ask for (seconds); also the TTL of shells that ask for none. 0: no limit.",
    )
    idle_timeout = Integer(
        0,
        config=True,
        help="Seconds a shell may go without input or output before it ends (never while a foreground "
        "job runs); also the longest a request may ask for (spec.idleTimeoutSeconds). 0: no idle rule.",
    )
    default_exposure = Enum(
        list(EXPOSURE_MODES),
        "ClusterIP",
        config=True,
        help="exposureMode of every shell (requests may not choose it). The relay needs none of the "
        "others, which make the terminal reachable from outside the cluster.",
    )
    kubeconfig_secret = Unicode(
        "",
        config=True,
        help="Secret (key 'config') with the kubeconfig every shell gets (spec.secretRef); default: "
        "none, the shell uses its own ServiceAccount.",
    )
    extra_labels = Dict(
        value_trait=Unicode(), config=True, help="Labels added to every CloudShell this server creates."
    )
    connect_via = Enum(
        ["service", "apiserver", "url"],
        None,
        allow_none=True,
        config=True,
        help="How the server reaches a shell's ttyd: 'service' (the Service's cluster DNS name; the "
        "default in a cluster), 'apiserver' (the API server's service proxy with this server's "
        "credentials; the default outside one), or 'url' (status.accessUrl).",
    )
    detach_timeout = Float(
        60.0,
        config=True,
        help="Seconds a cluster shell's terminal stays open after its last client left, so that a "
        "browser back from a network drop finds the same process; then it is closed.",
    )
    upstream_ping_interval = Float(
        30.0,
        config=True,
        help="Seconds between pings to a cluster shell's ttyd; one that answers none within as long "
        "(a pod gone with its node) ends the terminal with close code 4005. 0: no pings.",
    )
    upstream_lost_grace = Float(
        5.0,
        config=True,
        help="Seconds a terminal whose connection to a cluster shell's ttyd was lost (ttyd killed, its "
        "pod gone) waits for the shell's status to say why (the operator marks it Failed or Complete) "
        "and closes with that; past this, with close code 4005 saying the connection was lost.",
    )
    ready_timeout = Float(
        300.0,
        config=True,
        help="Seconds a terminal waits for its shell to become Ready before giving up.",
    )
    kube_api_timeout = Float(
        10.0,
        config=True,
        help="Seconds a request to the Kubernetes API may go unanswered; the REST call that made it "
        "then answers 503 (and the watch of shells, silent this long past its end, starts again).",
    )
    kube_watch_seconds = Integer(
        60,
        config=True,
        help="Seconds each watch of the shells lasts (the API server ends it; it is resumed at once "
        "from where it stopped). A hung API server is noticed within this plus kube_api_timeout.",
    )
    kube_backoff = Float(
        0.5,
        config=True,
        help="Seconds before the watch of shells lists again after the API server failed; doubled "
        "(with jitter) at each failure in a row, up to kube_max_backoff, and at least a 429's Retry-After.",
    )
    kube_max_backoff = Float(30.0, config=True, help="Longest wait between two tries of a failing API server.")

    recording = Enum(
        ["off", "optional", "required"],
        "off",
        config=True,
        help="Terminal sessions recorded as asciicast v2 files (output, resizes, markers) in recordings_dir. "
        "'optional': shells created with \"record\": true; 'required': every shell, and a terminal that "
        "cannot be recorded is not opened (close code 4007); 'off': none.",
    )
    record_input = Bool(
        False,
        config=True,
        help="Also record what is typed (asciicast 'i' events): passwords typed at a prompt included.",
    )
    recordings_dir = Unicode(
        "",
        config=True,
        help="Folder of the recordings (made 0700 if missing; '~' expanded, relative to the server's "
        "root_dir); may be outside the root, e.g. an administrator's volume. Default: "
        "<root_dir>/.cloudtty/recordings.",
    )

    transfer_max_bytes = Integer(
        1 << 30,
        config=True,
        help="Most bytes one file transfer through a terminal may move (trz/tsz: uploads, downloads, "
        "%cloudtty cp); 0 for no limit. A bigger one is refused before it starts, or stopped and removed.",
    )

    @default("owner")
    def _default_owner(self) -> str:
        return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()

    @default("shell_command")
    def _default_shell_command(self) -> list[str]:
        return login_shell()

    @default("working_dir")
    def _default_working_dir(self) -> str:
        return os.path.expanduser(self.serverapp.root_dir) if self.serverapp else os.getcwd()

    shell_backend: Backend  # the one chosen by `backend`
    shell_backend_reason = ""
    recordings: RecordingPolicy
    transfers: Transfers

    def recording_policy(self) -> RecordingPolicy:
        """``recording``, ``record_input`` and ``recordings_dir`` as the backends and the REST API use them."""
        root = os.path.expanduser(self.serverapp.root_dir) if self.serverapp else os.getcwd()
        folder = os.path.join(root, os.path.expanduser(self.recordings_dir or os.path.join(".cloudtty", "recordings")))
        return RecordingPolicy(
            self.recording, os.path.abspath(folder), record_input=self.record_input, owner=self.owner, root=root
        )

    def local_backend(self) -> LocalBackend:
        base_url = self.serverapp.base_url
        return LocalBackend(
            shell_command=self.shell_command,
            cwd=self.working_dir,
            terminal_url=lambda name: url_path_join(base_url, API_PATH, name, "terminal"),
            max_shells=self.max_shells,
            scrollback_bytes=self.scrollback_bytes,
            kill_timeout=self.kill_timeout,
            max_ttl=self.max_ttl,
            idle_timeout=self.idle_timeout,
            recordings=self.recordings,
            # A local shell is a terminal of the server's machine: an administrator who turned the
            # server's terminals off turned these off too.
            disabled=""
            if self.serverapp.terminals_enabled
            else "this Jupyter server has terminals turned off (ServerApp.terminals_enabled = False), "
            "and a local shell is a terminal",
        )

    def initialize_settings(self) -> None:
        settings = BackendSettings(**{f.name: getattr(self, f.name) for f in fields(BackendSettings)})
        self.recordings = self.recording_policy()
        root = os.path.expanduser(self.serverapp.root_dir) if self.serverapp else os.getcwd()
        self.transfers = Transfers(root, self.transfer_max_bytes)
        self.shell_backend, self.shell_backend_reason = choose_backend(settings, self.local_backend, self.recordings)
        where = (
            f"namespace {self.shell_backend.info()['namespace']}"
            if self.shell_backend.kind == "kubernetes"
            else self.working_dir
        )
        self.log.info(
            "jupyter_cloudtty %s: %s backend (%s), shells of %s in %s",
            __version__,
            self.shell_backend.kind,
            self.shell_backend_reason,
            self.owner,
            where,
        )

    def info(self) -> dict[str, Any]:
        """``GET /cloudtty/api/info``."""
        return {
            "backend": self.shell_backend.kind,
            "reason": self.shell_backend_reason,
            "version": __version__,
            "identity": self.owner,
            "recording": self.recordings.info(),
            "transfers": {"maxBytes": self.transfer_max_bytes},
            **self.shell_backend.info(),
        }

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers(self.shell_backend, self.handshake_timeout, self.info, self.transfers))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.shell_backend.start()

    async def stop_extension(self) -> None:
        await self.transfers.shutdown()
        await self.shell_backend.shutdown()


# `jupyter cloudtty`: a Jupyter server with this extension; `--help-all` lists c.CloudTTY options.
main = CloudTTY.launch_instance
