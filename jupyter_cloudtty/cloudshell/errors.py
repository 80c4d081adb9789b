"""Errors about shells; each carries the HTTP status the REST API answers with, ``str()`` its message."""

from __future__ import annotations


class ShellError(Exception):
    """A request about shells that cannot be honoured; ``str()`` is the user-facing message."""

    status = 400


class InvalidShell(ShellError):
    """A name or spec field is invalid; the message starts with the field's path."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


class ShellNotFound(ShellError):
    status = 404

    def __init__(self, name: str):
        super().__init__(f"shell {name!r} not found")


class ShellExists(ShellError):
    status = 409

    def __init__(self, name: str):
        super().__init__(f"a shell named {name!r} already exists")


class ShellEnded(ShellError):
    """A change asked of a shell that has ended (it runs no more: nothing to change)."""

    status = 409

    def __init__(self, name: str):
        super().__init__(f"shell {name!r} has ended: nothing of it can change any more")


class TooManyShells(ShellError):
    status = 429


class ShellsDisabled(ShellError):
    """The administrator turned off what a shell would be (e.g. the server's terminals)."""

    status = 403


class RequestTooLarge(ShellError):
    status = 413
