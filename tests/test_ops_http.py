"""What operators run the API with (issue 13): /healthz, /readyz, /metrics and
the access log, through the real ASGI app."""

from __future__ import annotations

import json
import sqlite3

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from conftest import (
    OPERATOR_CREDS,
    PW,
    as_user,
    consecutive_free_ports,
    ok,
    scrape_metrics,
)
from mailtally.api import create_app
from mailtally.api.ops import LATENCY_BUCKETS, RequestStats, outcome_of
from mailtally.store.base import migrations


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def requests_of(m, method: str, outcome: str) -> float:
    return m.get(("mailtally_requests_total", (("method", method), ("outcome", outcome))), 0.0)


def test_healthz_and_readyz(client, fresh_store):
    r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"alive": True})
    r = client.get("/readyz")
    newest = migrations()[-1][0]
    assert (r.status_code, r.json()) == (200, {"ready": True, "schema_version": newest})
    assert fresh_store.migration_status() == (newest, newest)
    # POST /healthz: not a method, the JSON envelope's unknown path (SPEC §1)
    r = client.post("/healthz")
    assert (r.status_code, r.json()["success"]) == (404, False)


def test_readyz_is_503_when_the_schema_is_behind_or_ahead(client, fresh_store):
    newest = migrations()[-1][0]
    for version in (newest - 1, newest + 1):
        with fresh_store.write() as q:
            q.set_meta("schema_version", str(version))
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["ready"] is False
        assert f"migration {version}" in r.json()["reason"]
    with fresh_store.write() as q:
        q.set_meta("schema_version", str(newest))
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_store_does_not_answer(client, fresh_store, monkeypatch):
    def broken() -> tuple[int, int]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(fresh_store, "migration_status", broken)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert "disk I/O error" in r.json()["reason"]


def test_metrics_count_requests_by_method_and_outcome(client, platform):
    before = samples(client)
    ok(
        client.post(
            "/api/get_company", json={"credentials": OPERATOR_CREDS, "company": "Acme"}
        ).json()
    )
    wrong = {"credentials": {"user": "root", "password": "wrong"}, "company": "Acme"}
    assert client.post("/api/get_company", json=wrong).json()["error_number"] == 1
    assert client.post("/get_company", json={"company": "Acme"}).json()["error_number"] == 5
    assert client.post("/api/no_such_method", json={}).status_code == 404
    assert client.post(f"/api/{'x' * 50}", json={}).status_code == 404
    assert client.get("/api/openapi.json").status_code == 200
    m = samples(client)
    assert requests_of(m, "get_company", "ok") - requests_of(before, "get_company", "ok") == 1
    assert requests_of(m, "get_company", "error_1") == 1
    assert requests_of(m, "get_company", "error_5") == 1
    assert requests_of(m, "other", "error_5") == 2  # unknown names share one series
    assert requests_of(m, "openapi", "ok") == 1
    assert requests_of(m, "metrics", "ok") >= 1
    # the histogram: every request of a method in its +Inf bucket, sum > 0
    inf = m[
        ("mailtally_request_duration_seconds_bucket", (("le", "+Inf"), ("method", "get_company")))
    ]
    count = m[("mailtally_request_duration_seconds_count", (("method", "get_company"),))]
    assert inf == count == requests_of(m, "get_company", "ok") + 2
    assert m[("mailtally_request_duration_seconds_sum", (("method", "get_company"),))] > 0
    assert ("mailtally_process_resident_memory_bytes", ()) in m


def test_metrics_summary_cache_and_argon2(app, platform):
    body = {
        "credentials": as_user("alice@acme.com", PW),
        "type": "user",
        "object": "alice@acme.com",
    }
    # (alice's password logins are counted into her own answer: a periodic
    # flush of those counts between two requests, on a slow machine, would
    # rightly make the next one a miss)
    app.state.service.auth_flush_seconds = 3600.0
    with TestClient(app) as client:
        for _ in range(3):
            ok(client.post("/api/stats_summary", json=body).json())
        m = samples(client)
    assert m[("mailtally_summary_cache_misses_total", ())] == 1
    assert m[("mailtally_summary_cache_hits_total", ())] == 2
    assert m[("mailtally_summary_cache_hit_ratio", ())] == pytest.approx(2 / 3)
    assert m[("mailtally_argon2_checks_in_flight", ())] == 0  # (all answered)
    assert m[("mailtally_argon2_threads", ())] == 2


def test_request_stats_buckets():
    s = RequestStats()
    for seconds in (0.00005, 0.0001, 0.003, 99.0):
        s.record("echo", "ok", seconds)
    outcomes, b, total = s.methods["echo"]
    assert b[0] == 2  # le 0.0001 (the bound itself is in)
    assert b[LATENCY_BUCKETS.index(0.005)] == 1
    assert b[-1] == 1  # over the last bound: only +Inf
    assert outcomes == {"ok": 4} and total == pytest.approx(99.00315)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, b'{"success":true,"x":1}', "ok"),
        (200, b'{"success":false,"error":"no \\"error_number\\": 9","error_number":2}', "error_2"),
        (404, b'{"success":false,"error":"unknown","error_number":5}', "error_5"),
        (200, b"user,messages\n", "ok"),
        (500, b"", "http_500"),
        (200, b'{"success":false,"error_number":12345}', "http_200"[:0] + "error_123"),
    ],
)
def test_outcome_of(status, body, outcome):
    assert outcome_of(status, body) == outcome


@pytest.fixture
def logged(fresh_store, config, clock, operator, capfd):
    import msgspec

    app = create_app(fresh_store, msgspec.structs.replace(config, access_log=True), clock)
    with TestClient(app) as c:
        yield c


def test_access_log_one_json_line_per_request_without_secrets(logged, capfd):
    capfd.readouterr()
    logged.post("/api/get_company", json={"credentials": OPERATOR_CREDS})
    logged.post("/api/get_company", json={"credentials": {"user": "root", "password": "s3cret-pw"}})
    tok = logged.post(
        "/api/generate_token", json={"credentials": OPERATOR_CREDS, "user": "root", "reason": "t"}
    ).json()
    logged.get("/api/snapshot/some-secret-link-token")
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(r["method"], r["status"]) for r in lines] == [
        ("get_company", 200),
        ("get_company", 200),
        ("generate_token", 200),
        ("snapshot_download", lines[3]["status"]),
    ]
    first = lines[0]
    assert first["user"] == "root" and first["http"] == "POST"
    assert first["client"] == "testclient" and first["ms"] >= 0 and first["time"] > 0
    assert lines[1]["outcome"] == "error_1" and lines[1]["user"] is None  # not authenticated
    assert OPERATOR_CREDS["password"] not in err and "s3cret-pw" not in err
    assert "some-secret-link-token" not in err
    if tok.get("success"):
        assert tok["token"] not in err


def test_access_log_is_off_by_default(client, capfd):
    capfd.readouterr()
    client.post("/api/echo", json={"credentials": OPERATOR_CREDS})
    assert capfd.readouterr().err == ""


def test_metrics_port_serves_the_process_registry_on_the_first_free_port(
    fresh_store, config, capfd
):
    import socket

    from mailtally.api.ops import serve_own_metrics

    config.metrics_port = consecutive_free_ports(3)
    app = create_app(fresh_store, config, workers=3)
    taken = socket.socket()  # (another worker holds the first port)
    taken.bind(("127.0.0.1", config.metrics_port))
    try:
        with TestClient(app) as client:
            for _ in range(3):
                assert client.post("/api/echo", json={}).status_code == 200
            # the lifespan took the next port; /metrics there is this app's registry
            m = scrape_metrics(config.metrics_port + 1)
            assert requests_of(m, "echo", "ok") == 3
            assert requests_of(samples(client), "echo", "ok") == 3
        # stopped with the app: nothing answers there any more
        assert scrape_metrics(config.metrics_port + 1, missing_ok=True) == {}
        # every port of the range taken: no server, a line on standard error
        assert serve_own_metrics(app.state.registry, config.metrics_port, 1, "127.0.0.1") is None
        assert "no free port" in capfd.readouterr().err
    finally:
        taken.close()


def test_metrics_port_setting_is_checked():
    from mailtally.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="metrics_port"):
        load_config(None, metrics_port=70000)
    assert load_config(None).metrics_port == 0
