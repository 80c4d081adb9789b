"""The kernel side: magics, kubectl, tables, the kernel's client of its Jupyter server, the widget."""
