"""A shell whose process cannot start fails with the reason, visible to client and API."""

import pytest


@pytest.fixture
def cloudtty_config(tmp_path):
    return {"working_dir": str(tmp_path / "does-not-exist")}


async def test_a_process_that_cannot_start_fails_the_shell(api, create_shell, connect, tmp_path):
    await create_shell("doomed")
    term = await connect("doomed")
    code, reason = await term.wait_closed()
    assert code == 4000 and reason.startswith("could not start 'bash'")
    _, shell, _ = await api("GET", "doomed")
    assert shell["status"]["phase"] == "Failed"
    failed = next(c for c in shell["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "StartFailed"
    assert str(tmp_path / "does-not-exist") in failed["message"]
