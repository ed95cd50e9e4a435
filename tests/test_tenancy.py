"""Tenants (DESIGN §11): authenticated ingest, per-tenant limits and reads, and every boundary between tenants."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client.parser import text_string_to_metric_families

from llm_cost_tracker.inputfile import InputFileError
from llm_cost_tracker.routing import ModelRouter
from llm_cost_tracker.tenancy.limits import TokenBucket
from llm_cost_tracker.tenancy.tenants import load_tenants, token_sha256
from tests.clock import TestClock
from tests.conftest import LiveServer, Sample, need_binary, run_cli, sample_value, wait_until
from tests.test_otlp_http import JSON, PROTOBUF, TRACES, genai_span_json
from tests.webhook_payloads import Alerts, notification

Start = Callable[..., LiveServer]

TOKENS = {
    "acme-ingest": "lct_acme_ingest_token",
    "acme-read": "lct_acme_read_token",
    "globex-ingest": "lct_globex_ingest_token",
    "globex-read": "lct_globex_read_token",
}


def tenants_yaml(
    acme_limits: str = "{}", globex_limits: str = "{}", acme_projects: str = '[checkout, "search-*"]'
) -> str:
    h = {name: token_sha256(token) for name, token in TOKENS.items()}
    return f"""\
version: llm-cost-tracker/v1
tenants:
  - org: acme
    ingest_tokens_sha256: [{h["acme-ingest"]}]
    read_tokens_sha256: [{h["acme-read"]}]
    projects: {acme_projects}
    limits: {acme_limits}
  - org: globex
    ingest_tokens_sha256: [{h["globex-ingest"]}]
    read_tokens_sha256: [{h["globex-read"]}]
    limits: {globex_limits}
"""


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


def call(
    project: str = "checkout", model: str = "gpt-4o", *, span_id: str = "eee19b7ec3c1b174", **extra: object
) -> bytes:
    """One OpenAI chat call of ``project`` (its service.name), 1000 input and 100 output tokens."""
    body = orjson.loads(
        genai_span_json(
            **{
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100,
                **extra,
            }
        )
    )
    resource = body["resourceSpans"][0]
    resource["resource"]["attributes"] = [
        {"key": "service.name", "value": {"stringValue": project}},
        {"key": "tenant.org", "value": {"stringValue": "globex"}},  # a claim the token overrides
    ]
    resource["scopeSpans"][0]["spans"][0]["spanId"] = span_id
    resource["scopeSpans"][0]["spans"][0]["traceId"] = span_id * 2
    return orjson.dumps(body)


def span_id(i: int) -> str:
    return f"{i + 1:016x}"


@pytest.fixture
def alert(clock: TestClock) -> Alerts:
    return Alerts(clock)


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(tenants_yaml())
    return path


@pytest.fixture
def tenant_server(start_server: Start, tenants_file: Path) -> LiveServer:
    # The org label would come from the payload's tenant.org without tenants: with them, from the token only.
    return start_server(
        tenants_file=str(tenants_file), labels={"org": {"from": ["resource:tenant.org"], "default": "x"}}
    )


def get(server: LiveServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{server.web_url}{path}", headers=headers, timeout=10)


def parse_samples(text: str) -> list[Sample]:
    return [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples]


# --- the tenants file ----------------------------------------------------------------------------


def test_a_tenants_file_with_errors_names_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    digest = token_sha256("t")
    path.write_text(
        f"""\
version: llm-cost-tracker/v1
tenants:
  - org: acme
    ingest_tokens_sha256: [not-a-hash]
    limits: {{max_series: 0}}
  - org: "__overflow__"
  - org: beta
    read_tokens_sha256: [{digest}]
    colour: blue
"""
    )
    with pytest.raises(InputFileError) as error:
        load_tenants(path, 100)
    text = str(error.value)
    assert "tenants[0].ingest_tokens_sha256[0]" in text
    assert "'not-a-hash'" in text
    assert "tenants[0].limits.max_series" in text
    assert ("tenants[1].org" in text and "reserved" in text) or "tenants[1].org" in text
    assert "tenants[2].colour: unknown key" in text
    assert str(path) in text


def test_a_token_hash_may_not_belong_to_two_tenants(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    digest = token_sha256("shared")
    path.write_text(
        f"version: llm-cost-tracker/v1\ntenants:\n  - {{org: a, ingest_tokens_sha256: [{digest}]}}\n"
        f"  - {{org: b, read_tokens_sha256: [{digest}]}}\n  - {{org: a}}\n"
    )
    with pytest.raises(InputFileError) as error:
        load_tenants(path, 100)
    assert "is also in tenants[0].ingest_tokens_sha256" in str(error.value)
    assert "'a' is listed twice" in str(error.value)


def test_serve_refuses_to_start_on_a_bad_tenants_file(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text("version: llm-cost-tracker/v1\ntenants:\n  - org: acme\n    ingest_tokens_sha256: [abc]\n")
    result = run_cli("serve", "--tenants.file", str(path))
    assert result.returncode == 1
    assert f"{path}:4: tenants[0].ingest_tokens_sha256[0]" in result.stderr


def test_tenants_token_prints_a_token_and_its_hash_line() -> None:
    result = run_cli("tenants", "token", "--org", "acme")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    token = lines[0].removeprefix("token: ")
    assert token.startswith("lct_")
    assert len(token) > 40
    assert lines[-1] == f"ingest_tokens_sha256: [{token_sha256(token)}]"
    again = run_cli("tenants", "token", "--org", "acme", "--kind", "read")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] != lines[0]
    assert again.stdout.splitlines()[-1].startswith("read_tokens_sha256: [")


# --- authenticated ingest ------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YTpi"}])
def test_ingest_without_a_known_token_is_401_with_a_status(tenant_server: LiveServer, headers: dict[str, str]) -> None:
    response = tenant_server.post("/v1/traces", TRACES, PROTOBUF, **headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    status = status_pb2.Status.FromString(response.content)
    assert status.code == code_pb2.UNAUTHENTICATED
    json_answer = tenant_server.post("/v1/traces", call(), JSON, **headers)
    assert json_answer.status_code == 401
    assert json_answer.json()["code"] == code_pb2.UNAUTHENTICATED
    assert sample_value(tenant_server.samples(), "llm_requests_total") == 0


def test_a_read_token_cannot_ingest(tenant_server: LiveServer) -> None:
    response = tenant_server.post("/v1/traces", call(), JSON, **bearer("acme-read"))
    assert response.status_code == 403
    assert response.json()["code"] == code_pb2.PERMISSION_DENIED


def test_the_org_comes_from_the_token_never_from_the_payload(tenant_server: LiveServer) -> None:
    response = tenant_server.post("/v1/traces", call(), JSON, **bearer("acme-ingest"))
    assert response.status_code == 200
    samples = tenant_server.samples()
    assert sample_value(samples, "llm_requests_total", org="acme", project="checkout") == 1
    assert sample_value(samples, "llm_requests_total", org="globex") == 0  # what the payload claimed
    assert sample_value(samples, "llm_cost_tracker_spans_total", org="acme", result="accepted") == 1
    assert TOKENS["acme-ingest"] not in tenant_server.metrics_text()


def test_projects_outside_the_tenants_list_are_rejected_in_partial_success(tenant_server: LiveServer) -> None:
    for i, project in enumerate(["checkout", "search-eu", "billing"]):
        response = tenant_server.post("/v1/traces", call(project, span_id=span_id(i)), JSON, **bearer("acme-ingest"))
        assert response.status_code == 200
        if project == "billing":
            partial = response.json()["partialSuccess"]
            assert partial["rejectedSpans"] == "1"
            assert "project_not_allowed" in partial["errorMessage"]
        else:
            assert response.json() == {}
    samples = tenant_server.samples()
    assert sample_value(samples, "llm_requests_total", org="acme") == 2
    assert sample_value(samples, "llm_requests_total", project="billing") == 0
    assert sample_value(samples, "llm_cost_tracker_spans_total", org="acme", reason="project_not_allowed") == 1
    # Protobuf answers carry the same partial success.
    answer = tenant_server.post("/v1/traces", TRACES, PROTOBUF, **bearer("acme-ingest"))
    assert ExportTraceServiceResponse.FromString(answer.content).partial_success.rejected_spans > 0


def test_one_tenants_new_label_sets_cannot_cost_another_a_series(start_server: Start, tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(tenants_yaml(acme_limits="{max_series: 3}", acme_projects='["*"]'))
    server = start_server(tenants_file=str(path), limits={"max_series_per_metric": 10})
    for i in range(40):  # acme floods with made-up models
        server.post("/v1/traces", call(model=f"made-up-{i}", span_id=span_id(i)), JSON, **bearer("acme-ingest"))
    for i in range(8):  # then globex's real calls, each a new label set
        response = server.post(
            "/v1/traces", call(f"app-{i}", span_id=span_id(100 + i)), JSON, **bearer("globex-ingest")
        )
        assert response.status_code == 200
    samples = server.samples()
    acme = {labels["model"] for name, labels, _ in samples if name == "llm_requests_total" and labels["org"] == "acme"}
    assert acme == {"made-up-0", "made-up-1", "made-up-2", "other"}
    assert sample_value(samples, "llm_requests_total", org="acme") == 40  # nothing lost: the rest in 'other'
    globex = {
        (labels["project"], labels["model"])
        for name, labels, _ in samples
        if name == "llm_cost_usd_total" and labels["org"] == "globex"
    }
    assert globex == {(f"app-{i}", "gpt-4o") for i in range(8)}
    assert (
        sample_value(samples, "llm_cost_tracker_tenant_series_dropped_total", org="acme", metric="llm_cost_usd_total")
        == 37
    )
    assert sample_value(samples, "llm_cost_tracker_tenant_series_dropped_total", org="globex") == 0


def test_a_tenant_over_its_rate_gets_429_and_another_tenant_none(start_server: Start, tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    # 0.01 spans/s: the first request is let in, and its span is not paid back for 100 s.
    path.write_text(tenants_yaml(acme_limits="{max_spans_per_second: 0.01}"))
    server = start_server(tenants_file=str(path))
    codes = [server.post("/v1/traces", call(span_id=span_id(i)), JSON, **bearer("acme-ingest")) for i in range(5)]
    assert [r.status_code for r in codes] == [200, 429, 429, 429, 429]
    refused = codes[1]
    assert int(refused.headers["retry-after"]) > 60
    assert refused.json()["code"] == code_pb2.RESOURCE_EXHAUSTED
    assert refused.json()["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
    protobuf = server.post("/v1/traces", TRACES, PROTOBUF, **bearer("acme-ingest"))
    assert protobuf.status_code == 429
    status = status_pb2.Status.FromString(protobuf.content)
    retry = error_details_pb2.RetryInfo()
    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.seconds == int(protobuf.headers["retry-after"])
    for i in range(10):  # globex is not limited and not slowed by acme
        response = server.post("/v1/traces", call(span_id=span_id(50 + i)), JSON, **bearer("globex-ingest"))
        assert response.status_code == 200
    samples = server.samples()
    assert sample_value(samples, "llm_requests_total", org="acme") == 1
    assert sample_value(samples, "llm_requests_total", org="globex") == 10
    assert sample_value(samples, "llm_cost_tracker_throttled_requests_total", org="acme") == 5
    assert sample_value(samples, "llm_cost_tracker_throttled_requests_total", org="globex") == 0


def test_a_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(10, monotonic=lambda: now[0])
    assert bucket.retry_after() is None
    bucket.take(25)  # a batch larger than a second's worth is let in, and borrows from the next
    assert bucket.retry_after() == 2  # -15 + 1 → 1.6 s → 2
    now[0] = 1.4
    assert bucket.retry_after() == 1  # -1 + 1 → 0.2 s → at least 1
    now[0] = 1.6
    assert bucket.retry_after() is None
    now[0] = 100.0
    bucket.take(0)
    assert bucket.retry_after() is None  # never more than a second's worth saved up
    bucket.take(10)
    assert bucket.retry_after() == 1


# --- per-tenant reads ----------------------------------------------------------------------------


def test_a_tenant_reads_only_its_own_metrics(tenant_server: LiveServer) -> None:
    tenant_server.post("/v1/traces", call(), JSON, **bearer("acme-ingest"))
    tenant_server.post("/v1/traces", call("app", "gpt-4o-mini", span_id=span_id(7)), JSON, **bearer("globex-ingest"))
    response = get(tenant_server, "/tenants/acme/metrics", **bearer("acme-read"))
    assert response.status_code == 200
    samples = parse_samples(response.text)
    orgs = {labels["org"] for name, labels, _ in samples if "org" in labels}
    assert orgs == {"acme"}
    assert sample_value(samples, "llm_cost_usd_total", org="acme") > 0
    assert {labels["model"] for name, labels, _ in samples if name == "llm_price_usd_per_token"} >= {"gpt-4o"}
    assert not any(name.startswith("llm_cost_tracker_spans") for name, _, _ in samples)  # no self-metrics

    assert get(tenant_server, "/tenants/acme/metrics", **bearer("globex-read")).status_code == 403
    assert get(tenant_server, "/tenants/acme/metrics", **bearer("acme-ingest")).status_code == 403
    assert get(tenant_server, "/tenants/nobody/metrics", **bearer("acme-read")).status_code == 403
    unauthenticated = get(tenant_server, "/tenants/acme/metrics")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
    assert get(tenant_server, "/tenants/acme/metrics", Authorization="Bearer wrong").status_code == 401
    samples = tenant_server.samples()
    assert sample_value(samples, "llm_cost_tracker_tenant_reads_total", org="acme", what="metrics", code="403") == 2
    assert sample_value(samples, "llm_cost_tracker_tenant_reads_total", org="nobody") == 0  # no made-up labels


def test_tenant_paths_do_not_exist_without_a_tenants_file(server: LiveServer) -> None:
    assert get(server, "/tenants/acme/metrics").status_code == 404
    assert get(server, "/tenants/acme/routing").status_code == 404


@pytest.fixture
def swap_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        """\
version: llm-cost-tracker/v1
budgets:
  - name: checkout-monthly
    match: {org: acme, project: checkout}
    amount_usd: 500
    period: month
    on_exceeded: {swap: [{from: gpt-4o, to: gpt-4o-mini}]}
  - name: globex-daily
    match: {org: globex}
    amount_usd: 40
    period: day
    on_exceeded: {swap: [{from: gpt-4o, to: gpt-3.5-turbo}]}
"""
    )
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(tenants_yaml())
    return budgets, tmp_path / "routing.yaml", tenants


def test_a_budget_swaps_only_its_own_orgs_routes(
    start_server: Start, swap_files: tuple[Path, Path, Path], alert: Alerts, tmp_path: Path
) -> None:
    budgets, routing, tenants = swap_files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing), tenants_file=str(tenants))
    (tmp_path / "acme.token").write_text(TOKENS["acme-read"] + "\n")
    (tmp_path / "globex.token").write_text(TOKENS["globex-read"])
    acme = ModelRouter.from_url(
        f"{server.web_url}/tenants/acme/routing",
        token_file=tmp_path / "acme.token",
        scope={"project": "checkout"},
        poll_interval=0.05,
    )
    globex = ModelRouter.from_url(
        f"{server.web_url}/tenants/globex/routing",
        token_file=tmp_path / "globex.token",
        scope={"project": "checkout"},
        poll_interval=0.05,
    )
    try:
        assert acme.resolve("gpt-4o") == "gpt-4o"
        response = httpx.post(
            f"{server.web_url}/alertmanager/webhook", content=notification(alert("firing")), timeout=10
        )
        assert response.status_code == 200
        wait_until(lambda: acme.resolve("gpt-4o") == "gpt-4o-mini", timeout=2)
        time.sleep(0.2)
        assert globex.resolve("gpt-4o") == "gpt-4o"  # the same project name in another org: untouched

        document = get(server, "/tenants/acme/routing", **bearer("acme-read"))
        assert [o["scope"] for o in document.json()["overrides"]] == [{"org": "acme", "project": "checkout"}]
        assert get(server, "/tenants/globex/routing", **bearer("globex-read")).json()["overrides"] == []
        assert get(server, "/tenants/acme/routing", **bearer("globex-read")).status_code == 403
        assert get(server, "/tenants/acme/routing").status_code == 401
        etag = document.headers["etag"]
        again = get(server, "/tenants/acme/routing", **bearer("acme-read"), **{"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
    finally:
        acme.close()
        globex.close()


def test_with_tenants_a_budget_that_swaps_must_name_a_known_org(
    start_server: Start, swap_files: tuple[Path, Path, Path]
) -> None:
    budgets, routing, tenants = swap_files
    budgets.write_text(
        "version: llm-cost-tracker/v1\nbudgets:\n"
        "  - {name: any-org, match: {project: checkout}, amount_usd: 5, period: day,"
        " on_exceeded: {swap: [{from: gpt-4o, to: gpt-4o-mini}]}}\n"
        "  - {name: ghost, match: {org: initech}, amount_usd: 5, period: day,"
        " on_exceeded: {swap: [{from: gpt-4o, to: gpt-4o-mini}]}}\n"
        "  - {name: alerts-only, match: {project: x}, amount_usd: 5, period: day}\n"
    )
    with pytest.raises(InputFileError) as error:
        start_server(budgets_file=str(budgets), routing_file=str(routing), tenants_file=str(tenants))
    assert "budgets[0].match.org: with a tenants file, a budget that swaps models must name its org" in str(error.value)
    assert "budgets[1].match.org: 'initech' is not an org of the tenants file" in str(error.value)
    assert "budgets[2]" not in str(error.value)


def test_the_router_keeps_the_last_good_routing_and_never_raises(
    start_server: Start, swap_files: tuple[Path, Path, Path], alert: Alerts, tmp_path: Path
) -> None:
    budgets, routing, tenants = swap_files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing), tenants_file=str(tenants))
    token = tmp_path / "token"
    token.write_text(TOKENS["acme-read"])
    router = ModelRouter.from_url(
        f"{server.web_url}/tenants/acme/routing", token_file=token, scope={"project": "checkout"}, poll_interval=0.05
    )
    try:
        httpx.post(f"{server.web_url}/alertmanager/webhook", content=notification(alert("firing")), timeout=10)
        wait_until(lambda: router.resolve("gpt-4o") == "gpt-4o-mini", timeout=2)
        token.write_text("revoked")  # 401 from now on
        fetched = router.remote.fetches if router.remote else 0
        time.sleep(0.3)
        assert router.remote is not None
        assert router.remote.fetches == fetched
        assert router.resolve("gpt-4o") == "gpt-4o-mini"  # the last good document
    finally:
        router.close()
    nowhere = ModelRouter.from_url("http://127.0.0.1:9/tenants/acme/routing", token_file=token, timeout=0.2)
    try:
        assert nowhere.resolve("gpt-4o") == "gpt-4o"
    finally:
        nowhere.close()
    missing_token = ModelRouter.from_url(f"{server.web_url}/tenants/acme/routing", token_file=tmp_path / "absent")
    try:
        assert missing_token.resolve("gpt-4o") == "gpt-4o"
    finally:
        missing_token.close()


# --- reload --------------------------------------------------------------------------------------


def test_a_bad_tenants_file_on_reload_keeps_the_old_one(
    tenant_server: LiveServer, tenants_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tenants_file.write_text("version: llm-cost-tracker/v1\ntenants: [{org: acme, limits: {max_spans: 3}}]\n")
    with caplog.at_level("ERROR"):
        response = httpx.post(f"{tenant_server.web_url}/-/reload", timeout=10)
    assert response.status_code == 500
    assert "tenants[0].limits.max_spans: unknown key" in response.text
    assert any("reload failed, keeping the previous configuration" in r.getMessage() for r in caplog.records)
    assert tenant_server.post("/v1/traces", call(), JSON, **bearer("acme-ingest")).status_code == 200
    assert sample_value(tenant_server.samples(), "llm_cost_tracker_config_last_reload_successful") == 0


def test_reload_applies_new_tokens_and_revokes_old_ones(tenant_server: LiveServer, tenants_file: Path) -> None:
    rotated = tenants_yaml().replace(token_sha256(TOKENS["acme-ingest"]), token_sha256("lct_rotated"))
    tenants_file.write_text(rotated)
    assert httpx.post(f"{tenant_server.web_url}/-/reload", timeout=10).status_code == 200
    assert tenant_server.post("/v1/traces", call(), JSON, **bearer("acme-ingest")).status_code == 401
    answer = tenant_server.post("/v1/traces", call(), JSON, Authorization="Bearer lct_rotated")
    assert answer.status_code == 200


def test_sighup_reloads_the_tenants_file_of_a_running_exporter(tmp_path: Path, tenants_file: Path) -> None:
    from demo.stack import free_port

    otlp, web = free_port(), free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"version: llm-cost-tracker/v1\notlp: {{listen_address: 127.0.0.1:{otlp}}}\n"
        f"web: {{listen_address: 127.0.0.1:{web}}}\ntenants_file: tenants.yaml\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "llm_cost_tracker", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: _ready(web), timeout=20)
        url = f"http://127.0.0.1:{otlp}/v1/traces"
        headers = {"Content-Type": JSON, **bearer("acme-ingest")}
        assert httpx.post(url, content=call(), headers=headers, timeout=5).status_code == 200
        tenants_file.write_text(tenants_yaml().replace(token_sha256(TOKENS["acme-ingest"]), token_sha256("new")))
        os.kill(process.pid, signal.SIGHUP)
        wait_until(lambda: httpx.post(url, content=call(), headers=headers, timeout=5).status_code == 401, timeout=10)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert TOKENS["acme-ingest"] not in output  # tokens never reach the log
    assert "configuration reloaded" in output


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# --- rules per tenant ----------------------------------------------------------------------------


def test_rules_split_by_org_writes_one_checked_file_per_org(
    swap_files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    promtool = need_binary("promtool")
    budgets, _, tenants = swap_files
    tenants.write_text(tenants.read_text() + "  - org: initech\n")
    out = tmp_path / "rules"
    result = run_cli(
        "rules",
        "generate",
        "--budgets",
        str(budgets),
        "--split-by",
        "org",
        "--tenants.file",
        str(tenants),
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["acme.rules.yaml", "globex.rules.yaml", "initech.rules.yaml"]
    for path in out.iterdir():
        checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    acme = (out / "acme.rules.yaml").read_text()
    assert 'llm_cost_usd_total{org="acme"}' in acme
    assert "checkout-monthly" in acme
    assert "globex" not in acme
    initech = (out / "initech.rules.yaml").read_text()
    assert 'org="initech"' in initech
    assert "budget=" not in initech


def test_rules_split_by_org_needs_each_budget_to_name_one_org(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "version: llm-cost-tracker/v1\nbudgets:\n  - {name: a, match: {project: x}, amount_usd: 5, period: day}\n"
        "  - {name: b, match: {org: '=~ac.*'}, amount_usd: 5, period: day}\n"
    )
    result = run_cli("rules", "generate", "--budgets", str(budgets), "--split-by", "org", "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert (
        "budgets[0].match.org: --split-by org needs every budget to match one org by value (got None)" in result.stderr
    )
    assert "budgets[1].match.org" in result.stderr


def test_an_open_exporter_beyond_loopback_says_so(start_server: Start, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="llm_cost_tracker.app"):
        start_server(otlp={"listen_address": "0.0.0.0:0"})
    warnings = [r.getMessage() for r in caplog.records if r.name == "llm_cost_tracker.app"]
    assert any("otlp listens on 0.0.0.0 without a tenants file" in w for w in warnings), warnings
    assert not any(w.startswith("web listens") for w in warnings)  # the web port stayed on loopback


def test_a_tenant_exporter_beyond_loopback_does_not_warn(
    start_server: Start, tenants_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="llm_cost_tracker.app"):
        start_server(otlp={"listen_address": "0.0.0.0:0"}, tenants_file=str(tenants_file))
    assert not [r for r in caplog.records if r.name == "llm_cost_tracker.app" and "tenants file" in r.getMessage()]
