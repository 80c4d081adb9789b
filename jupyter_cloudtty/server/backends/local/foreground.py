"""Whether a terminal's shell sits at its prompt, or a foreground job runs (the idle rule's question).

The terminal's foreground process group says it. A job-control shell (bash, zsh) gives each job a
process group of its own and the terminal to it, and takes the terminal back at its prompt. So at
the prompt the foreground group is one process, the shell: the terminal's first process, or, when
that is the ``sh -c COMMAND`` wrapper a spec's commandAction runs in (dash does not exec its last
command), that wrapper's child. Anything else in the foreground, a ``sleep 600``, a ``vim``, a
command of a shell without job control (``sh -c 'sleep 600'``: two processes in the group), is a
running job, and the idle rule never ends it. Nor does it end a shell with a job in the background
(``make &``, JupyterLab's #12869): any process in the terminal's session beyond the shell (and its
wrapper) counts as work.

The pods' supervisor (operator/supervisor.sh) applies the same rule to each of ttyd's terminals. Linux's
/proc; elsewhere every foreground is taken as busy, which only ever keeps a shell.
"""

from __future__ import annotations

import os
from typing import Sequence


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, process group, session) of ``pid``, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[2]), int(fields[3])


def session_members(sid: int) -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of each process in session ``sid``."""
    members = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _stat(int(entry))) is not None and found[2] == sid:
            members[int(entry)] = found[:2]
    return members


def wraps(argv: Sequence[str]) -> bool:
    """The terminal's first process is ``sh -c COMMAND``: the shell is its child."""
    return len(argv) >= 2 and os.path.basename(argv[0]) == "sh" and argv[1] == "-c"


def at_prompt(fd: int, first: int, argv: Sequence[str]) -> bool:
    """Whether the terminal of master ``fd``, whose first process (its session's leader) is ``first``,
    started as ``argv``, has its shell waiting at the prompt with nothing else running in it."""
    if not os.path.isdir("/proc/self"):
        return False
    try:
        foreground = os.tcgetpgrp(fd)
    except OSError:
        return True  # no process holds the terminal any more: nothing runs in it
    members = session_members(first)
    in_foreground = [pid for pid, (_, group) in members.items() if group == foreground]
    if len(in_foreground) != 1:
        return False
    shell = in_foreground[0]
    if wraps(argv):
        return members[shell][0] == first and set(members) == {first, shell}
    return shell == first and set(members) == {first}
