"""A transfer through the REST route, as the file browser and ``%cloudtty cp`` make one: ``POST
/cloudtty/api/shells/{name}/transfers``, its NDJSON events read as they arrive. For the integration tests
(a server in the test's process or of its own) and bench/transfers.py."""

from __future__ import annotations

import json
from typing import Any, Mapping

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


async def post_transfer(
    server: str,
    headers: Mapping[str, str],
    name: str,
    body: dict[str, Any],
    timeout: float,
    abort_after: int | None = None,
) -> tuple[int, list[dict]]:
    """POST a transfer to the shell ``name`` of the Jupyter server at ``server`` (its URL with its base path):
    (status, the NDJSON events); for a refusal, (its status, [its body]: one JSON object). ``abort_after``
    stops reading (closes the request) after that many events: (0, those events)."""
    events: list[dict] = []
    partial = b""

    def lines(data: bytes) -> None:
        nonlocal partial
        partial += data
        *whole, partial = partial.split(b"\n")
        events.extend(json.loads(line) for line in whole if line.strip())
        if abort_after is not None and len(events) >= abort_after:
            raise ConnectionAbortedError("the client went away")

    url = f"{server.rstrip('/')}/cloudtty/api/shells/{name}/transfers"
    request = HTTPRequest(url, "POST", headers=dict(headers), body=json.dumps(body), streaming_callback=lines,
                          request_timeout=timeout)  # fmt: skip
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as e:
        if abort_after is not None and len(events) >= abort_after:
            return 0, events  # we closed it
        assert e.response is not None, e
        return e.code, [json.loads(partial)]  # an error's body is one JSON object
    assert response.headers["Content-Type"] == "application/x-ndjson"
    return response.code, events
