"""jupyter-cloudtty: Kubernetes cloud shells (CloudTTY) inside Jupyter."""

from ._version import __version__


def _jupyter_labextension_paths() -> list[dict]:
    """The prebuilt JupyterLab extension (for `jupyter labextension develop`; pip installs it as shared data)."""
    return [{"src": "labextension", "dest": "jupyter-cloudtty"}]


def _jupyter_server_extension_points() -> list[dict]:
    from .server.app import CloudTTY

    return [{"module": "jupyter_cloudtty.app", "app": CloudTTY}]


def load_ipython_extension(ipython) -> None:
    """``%load_ext jupyter_cloudtty``: the ``%kubectl`` and ``%cloudtty`` magics."""
    from .kernel.magics import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str):
    # ShellTerminal (ipywidgets) is imported when asked for: the server extension does without it.
    if name == "ShellTerminal":
        from .kernel.widget import ShellTerminal

        return ShellTerminal
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ShellTerminal", "__version__", "load_ipython_extension"]
