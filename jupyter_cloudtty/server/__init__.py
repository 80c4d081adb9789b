"""The Jupyter server extension: configuration, REST and WebSocket handlers, sessions, backends."""
