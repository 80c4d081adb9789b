"""Which user's home the operator removes after home.retentionDays (operator/homes.py), without a cluster."""

import re
from datetime import datetime, timezone

import pytest

from jupyter_cloudtty.operator import homes
from jupyter_cloudtty.operator.settings import HomeSettings, InvalidSettings, Settings

NOW = datetime(2026, 12, 6, tzinfo=timezone.utc)


def claim(used: str | None) -> dict:
    annotations = {"jupyter-cloudtty.io/last-used": used} if used else {}
    return {"metadata": {"name": "cloudshell-home-alice", "annotations": annotations}}


def pod(phase: str) -> dict:
    return {"spec": {"volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "cloudshell-home-alice"}}]},
            "status": {"phase": phase}}  # fmt: skip


def test_a_home_unused_past_its_retention_goes_unless_a_pod_mounts_it():
    old, recent = "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"
    assert homes.unused_past(claim(old), [], NOW, 30)
    assert not homes.unused_past(claim(recent), [], NOW, 30)
    assert not homes.unused_past(claim(old), [pod("Running")], NOW, 30)  # a shell running for weeks keeps it
    assert homes.unused_past(claim(old), [pod("Succeeded")], NOW, 30)
    assert not homes.unused_past(claim(None), [], NOW, 30)  # never stamped: not ours to judge
    assert not homes.unused_past(claim(old), [], NOW, 0)  # 0: kept until the administrator deletes it


def test_home_settings_are_read_from_the_chart_s_values():
    home = Settings.from_config({"home": {"enabled": True, "size": "2Gi", "storageClassName": "",
                                          "accessModes": ["ReadWriteMany"], "retentionDays": 90}}).home  # fmt: skip
    assert home == HomeSettings(enabled=True, size="2Gi", access_modes=("ReadWriteMany",), retention_days=90)
    for bad, message in (({"mountPath": "home"}, "home.mountPath: must be an absolute path"),
                         ({"retentionDays": -1}, "home.retentionDays: must be 0 or more"),
                         ({"quota": 1}, "home.quota: unknown setting")):  # fmt: skip
        with pytest.raises(InvalidSettings, match=re.escape(message)):
            Settings.from_config({"home": bad})
