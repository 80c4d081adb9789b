"""The API server's tables as kubectl shows them, kubectl's columns from JSON, AGE, HTML and text (pure)."""

from __future__ import annotations

import datetime

import pytest

from jupyter_cloudtty.kernel.tables import (
    Table,
    Tables,
    human_duration,
    pod_status,
    resource_tables,
    server_table,
    shells_table,
)

NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (185, "3m5s"),
        (600, "10m"),
        (10799, "179m"),
        (3 * 3600 + 600, "3h10m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_age_is_kubectls_human_duration(seconds, text):
    assert human_duration(seconds) == text


def container(**fields):
    return {"name": "c", "ready": False, "restartCount": 0, **fields}


@pytest.mark.parametrize(
    ("status", "meta", "shown"),
    [
        ({"phase": "Pending"}, {}, "Pending"),
        ({"phase": "Running", "containerStatuses": [container(ready=True, state={"running": {}})]}, {}, "Running"),
        (
            {"phase": "Running", "containerStatuses": [container(state={"waiting": {"reason": "ImagePullBackOff"}})]},
            {},
            "ImagePullBackOff",
        ),
        (
            {"phase": "Failed", "containerStatuses": [container(state={"terminated": {"exitCode": 3}})]},
            {},
            "ExitCode:3",
        ),
        ({"phase": "Failed", "containerStatuses": [container(state={"terminated": {"signal": 9}})]}, {}, "Signal:9"),
        (
            {
                "phase": "Pending",
                "initContainerStatuses": [container(state={"waiting": {"reason": "PodInitializing"}})],
            },
            {},
            "Init:0/1",
        ),
        (
            {
                "phase": "Pending",
                "initContainerStatuses": [container(state={"terminated": {"exitCode": 1, "reason": "Error"}})],
            },
            {},
            "Init:Error",
        ),
        ({"phase": "Failed", "reason": "Evicted"}, {}, "Evicted"),
        ({"phase": "Running"}, {"deletionTimestamp": "2026-11-25T11:59:00Z"}, "Terminating"),
    ],
)
def test_pod_status_is_kubectls(status, meta, shown):
    assert pod_status({"metadata": {"name": "p", **meta}, "status": status}) == shown


def test_pods_table_text_and_html():
    pods = {
        "kind": "List",
        "items": [
            {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {"name": "a<b>", "namespace": "ns", "creationTimestamp": "2026-11-25T11:59:15Z"},
                "spec": {"containers": [{"name": "c"}, {"name": "d"}]},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        container(
                            ready=True,
                            state={"running": {}},
                            restartCount=2,
                            lastState={"terminated": {"finishedAt": "2026-11-25T11:30:00Z"}},
                        ),
                        container(ready=True, state={"running": {}}),
                    ],
                },
            }
        ],
    }
    table = resource_tables(pods, now=NOW)
    assert isinstance(table, Table)
    assert table.text() == ("NAME   READY   STATUS    RESTARTS      AGE\na<b>   2/2     Running   2 (30m ago)   45s")
    assert table._repr_html_() == (
        '<table class="cloudtty-table"><thead><tr><th>NAME</th><th>READY</th><th>STATUS</th><th>RESTARTS</th>'
        "<th>AGE</th></tr></thead><tbody><tr><td>a&lt;b&gt;</td><td>2/2</td><td>Running</td><td>2 (30m ago)</td>"
        "<td>45s</td></tr></tbody></table>"
    )
    assert table.items == pods["items"]
    assert resource_tables(pods, all_namespaces=True, now=NOW).rows[0][:2] == ["ns", "a<b>"]


def test_several_kinds_are_one_table_each_with_kind_names():
    doc = {
        "items": [
            {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "metadata": {"name": "web"},
                "spec": {"replicas": 3},
                "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
            },
            {
                "kind": "Service",
                "apiVersion": "v1",
                "metadata": {"name": "web"},
                "spec": {"type": "NodePort", "clusterIP": "10.0.0.7", "ports": [{"port": 80, "nodePort": 30080}]},
            },
        ]
    }
    tables = resource_tables(doc, now=NOW)
    assert isinstance(tables, Tables) and len(tables.tables) == 2
    assert tables.text() == (
        "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE\n"
        "deployment.apps/web   2/3     3            2           <unknown>\n"
        "\n"
        "NAME          TYPE       CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE\n"
        "service/web   NodePort   10.0.0.7     <none>        80:30080/TCP   <unknown>"
    )
    assert tables._repr_html_().count("<table") == 2


def test_unknown_kinds_show_name_and_age_and_nothing_is_said_as_kubectl_says_it():
    doc = {
        "kind": "Widget",
        "apiVersion": "example.com/v1",
        "metadata": {"name": "w", "creationTimestamp": "2026-11-24T12:00:00Z"},
    }
    assert resource_tables(doc, now=NOW).text() == "NAME   AGE\nw      24h"
    empty = resource_tables({"kind": "List", "items": []})
    assert empty.text() == "No resources found." and empty._repr_html_() == "<p>No resources found.</p>"


def test_shells_table():
    shells = [
        {
            "name": "pods",
            "created": "2026-11-25T11:50:00Z",
            "spec": {"commandAction": "kubectl get pods -w", "ttl": 60},
            "status": {"phase": "Ready"},
        },
        {"name": "new", "created": "2026-11-25T11:59:58Z", "spec": {}, "status": {"phase": ""}},
    ]
    assert shells_table(shells, now=NOW).text() == (
        "NAME   PHASE     COMMAND               TTL   AGE\n"
        "pods   Ready     kubectl get pods -w   60s   10m\n"
        "new    Pending   (login shell)               2s"
    )
    assert shells_table([]).text() == "No shells."


SERVER_TABLE = {
    "kind": "Table",
    "apiVersion": "meta.k8s.io/v1",
    "columnDefinitions": [
        {"name": "Name", "type": "string", "format": "name", "priority": 0},
        {"name": "Ready", "type": "string", "priority": 0},
        {"name": "Restarts", "type": "integer", "priority": 0},
        {"name": "Message", "type": "string"},
        {"name": "IP", "type": "string", "priority": 1},
        {"name": "Nominated Node", "type": "string", "priority": 1},
        {"name": "Suspended", "type": "boolean", "priority": 1},
    ],
    "rows": [
        {
            "cells": ["a<b>", "1/1", 3, "first line\nsecond", "10.0.0.7", None, False],
            "object": {"kind": "Pod", "metadata": {"name": "a<b>", "namespace": "ns"}},
        },
        {"cells": ["c", "0/1", 0, ""], "object": {"kind": "Pod", "metadata": {"name": "c", "namespace": "other"}}},
    ],
}


def test_the_servers_table_as_kubectl_prints_it():
    table = server_table(SERVER_TABLE)
    assert table.text() == (
        "NAME   READY   RESTARTS   MESSAGE\n"
        "a<b>   1/1     3          first line...\n"  # a cell ends at its first line break, as in kubectl
        "c      0/1     0"
    )
    assert "<th>NAME</th><th>READY</th><th>RESTARTS</th><th>MESSAGE</th></tr>" in table._repr_html_()
    assert "<td>a&lt;b&gt;</td>" in table._repr_html_()
    assert table.items == [row["object"] for row in SERVER_TABLE["rows"]]


def test_the_servers_table_wide_and_across_namespaces():
    table = server_table(SERVER_TABLE, all_namespaces=True, wide=True)
    assert table.columns == [
        "NAMESPACE", "NAME", "READY", "RESTARTS", "MESSAGE", "IP", "NOMINATED NODE", "SUSPENDED",
    ]  # fmt: skip
    assert table.rows == [
        ["ns", "a<b>", "1/1", "3", "first line...", "10.0.0.7", "", "false"],
        ["other", "c", "0/1", "0", "", "", "", ""],  # a row short of cells: empty ones
    ]
    empty = server_table({**SERVER_TABLE, "rows": []})
    assert empty.text() == "No resources found." and empty.items == []
