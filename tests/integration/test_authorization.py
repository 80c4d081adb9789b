"""Authorization: the extension asks the server's authorizer about resource ``cloudtty``."""

import pytest
from jupyter_server.auth import Authorizer
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.ttyd import TtydClient

from .test_auth import ROUTES


class DenyCloudTTY(Authorizer):
    """Refuses the ``cloudtty`` resource, allows everything else."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "cloudtty"


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["authorizer_class"] = DenyCloudTTY
    return jp_server_config


async def test_every_route_asks_for_the_cloudtty_resource(jp_fetch, terminal_url, jp_auth_header):
    for method, path in ROUTES:
        body = b"{}" if method == "POST" else None
        with pytest.raises(HTTPClientError) as error:
            await jp_fetch("cloudtty", "api", "shells", *path, method=method, body=body)
        assert error.value.code == 403, (method, path)
    with pytest.raises(HTTPClientError) as error:
        await TtydClient.connect(terminal_url("target"), headers=jp_auth_header)
    assert error.value.code == 403
    # The same user still reaches the rest of the server: the refusal is ours.
    assert (await jp_fetch("api", "status")).code == 200
