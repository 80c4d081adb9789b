"""`c.CloudTTY.working_dir`: where a local shell starts, the local backend's stand-in for a home (issue 19)."""

import pytest


@pytest.fixture
def cloudtty_config(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("kept between shells\n")
    return {"working_dir": str(tmp_path / "work")}


async def test_shells_start_in_the_configured_directory_and_find_its_files(create_shell, connect, tmp_path):
    for name in ("first", "second"):
        await create_shell(name, commandAction="echo cwd=$(pwd); cat notes.txt; exec bash --norc --noprofile")
        term = await connect(name)
        await term.expect(f"cwd={tmp_path / 'work'}")
        await term.expect("kept between shells")
