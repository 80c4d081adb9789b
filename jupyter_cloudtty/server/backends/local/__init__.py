"""The local backend: each shell is a process on a PTY of the Jupyter server's machine."""
