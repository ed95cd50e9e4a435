"""``--web.config.file`` (exporter-toolkit format) and TLS on both ports, checked by real clients and a real
Prometheus: basic auth on /metrics, /-/reload and the webhook; each tenant's Prometheus scraping its own view."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme
import yaml

from demo.stack import free_port, spawn, stop_all
from llm_cost_tracker.inputfile import InputFileError
from llm_cost_tracker.tenancy.webconfig import load_web_config
from tests.conftest import LiveServer, need_binary, sample_value
from tests.test_otlp_http import JSON
from tests.test_tenancy import TOKENS, bearer, call, parse_samples, span_id, tenants_yaml

Start = Callable[..., LiveServer]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def certs(tmp_path: Path, ca: trustme.CA) -> dict[str, Path]:
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("app.example")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key", "client")}
    ca.cert_pem.write_to_path(paths["ca"])
    server.cert_chain_pems[0].write_to_path(paths["cert"])
    server.private_key_pem.write_to_path(paths["key"])
    client.private_key_and_cert_chain_pem.write_to_path(paths["client"])
    return paths


def client_context(certs: dict[str, Path], *, with_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs["ca"]))
    if with_cert:
        context.load_cert_chain(certs["client"])
    return context


HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


def web_config(tmp_path: Path, certs: dict[str, Path] | None = None, **extra: object) -> Path:
    document: dict[str, object] = {"basic_auth_users": {"prometheus": HASH}, **extra}
    if certs is not None:
        document["tls_server_config"] = {"cert_file": "cert.pem", "key_file": "key.pem"}  # relative to the file
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_basic_auth_protects_metrics_reload_and_the_webhook(start_server: Start, tmp_path: Path) -> None:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(tenants_yaml())
    server = start_server(
        web={"config_file": str(web_config(tmp_path, http_server_config={"headers": {"X-Frame-Options": "deny"}}))},
        tenants_file=str(tenants),
    )
    web = server.web_url
    for method, path in [("GET", "/metrics"), ("POST", "/-/reload"), ("POST", "/alertmanager/webhook"), ("GET", "/")]:
        refused = httpx.request(method, f"{web}{path}", timeout=10)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic")
        wrong = httpx.request(method, f"{web}{path}", auth=("prometheus", "guess"), timeout=10)
        assert wrong.status_code == 401
        unknown_user = httpx.request(method, f"{web}{path}", auth=("root", "s3cret"), timeout=10)
        assert unknown_user.status_code == 401
    good = httpx.get(f"{web}/metrics", auth=("prometheus", "s3cret"), timeout=10)
    assert good.status_code == 200
    assert "llm_cost_tracker_build_info" in good.text
    assert good.headers["x-frame-options"] == "deny"
    assert httpx.post(f"{web}/-/reload", auth=("prometheus", "s3cret"), timeout=10).status_code == 200
    # A tenant's reads take its bearer token instead (a scraper sends one credential, not both).
    assert httpx.get(f"{web}/tenants/acme/metrics", headers=bearer("acme-read"), timeout=10).status_code == 200
    assert httpx.get(f"{web}/tenants/acme/metrics", timeout=10).status_code == 401


def test_a_bad_web_config_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users: {alice: plaintext}\ntls_server_config: {cert_file: x.pem}\nhttp2: true\n")
    with pytest.raises(InputFileError) as error:
        load_web_config(path)
    text = str(error.value)
    assert "basic_auth_users.alice: expected a bcrypt hash" in text
    assert "tls_server_config.key_file: required key is missing" in text
    assert "http2: unknown key" in text
    missing = tmp_path / "web2.yml"
    missing.write_text("tls_server_config: {cert_file: nope.pem, key_file: nope.key}\n")
    with pytest.raises(InputFileError, match="cannot load the certificate"):
        load_web_config(missing)


def test_tls_on_both_ports_and_client_certificates(start_server: Start, tmp_path: Path, certs: dict[str, Path]) -> None:
    server = start_server(
        web={"config_file": str(web_config(tmp_path, certs))},
        otlp={
            "tls": {
                "cert_file": str(certs["cert"]),
                "key_file": str(certs["key"]),
                "client_ca_file": str(certs["ca"]),
                "client_auth_type": "RequireAndVerifyClientCert",
            }
        },
    )
    web = server.web_url.replace("http://", "https://")
    otlp = server.otlp_url.replace("http://", "https://")
    with httpx.Client(verify=client_context(certs), timeout=10) as client:
        assert client.get(f"{web}/metrics", auth=("prometheus", "s3cret")).status_code == 200
        with pytest.raises(httpx.HTTPError):  # mTLS on OTLP: no client certificate, no handshake
            client.post(f"{otlp}/v1/traces", content=call(), headers={"Content-Type": JSON})
    with pytest.raises(httpx.HTTPError):  # plain HTTP to a TLS port
        httpx.get(f"{server.web_url}/metrics", timeout=5)
    with httpx.Client(verify=client_context(certs, with_cert=True), timeout=10) as client:
        response = client.post(f"{otlp}/v1/traces", content=call(), headers={"Content-Type": JSON})
        assert response.status_code == 200
        samples = client.get(f"{web}/metrics", auth=("prometheus", "s3cret")).text
    assert 'llm_requests_total{org="default",project="checkout"' in samples


def test_each_teams_prometheus_scrapes_only_its_own_spend_over_tls(
    start_server: Start, tmp_path: Path, certs: dict[str, Path]
) -> None:
    """A real Prometheus, configured as a platform team and a tenant team would configure theirs."""
    binary = need_binary("prometheus")
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(tenants_yaml())
    server = start_server(web={"config_file": str(web_config(tmp_path, certs))}, tenants_file=str(tenants))
    server.post("/v1/traces", call(), JSON, **bearer("acme-ingest"))
    server.post("/v1/traces", call("app", span_id=span_id(9)), JSON, **bearer("globex-ingest"))
    target = server.web_url.removeprefix("http://")
    (tmp_path / "acme.token").write_text(TOKENS["acme-read"])
    (tmp_path / "password").write_text("s3cret")
    tls = {"ca_file": str(certs["ca"])}
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {  # the platform team: everything, with the web port's basic auth
                        "job_name": "platform",
                        "scheme": "https",
                        "tls_config": tls,
                        "basic_auth": {"username": "prometheus", "password_file": str(tmp_path / "password")},
                        "static_configs": [{"targets": [target]}],
                    },
                    {  # acme's own: its view, with its read token
                        "job_name": "acme",
                        "scheme": "https",
                        "tls_config": tls,
                        "metrics_path": "/tenants/acme/metrics",
                        "authorization": {"credentials_file": str(tmp_path / "acme.token")},
                        "static_configs": [{"targets": [target]}],
                    },
                    {  # acme trying globex's view with its own token
                        "job_name": "nosy",
                        "scheme": "https",
                        "tls_config": tls,
                        "metrics_path": "/tenants/globex/metrics",
                        "authorization": {"credentials_file": str(tmp_path / "acme.token")},
                        "static_configs": [{"targets": [target]}],
                    },
                ],
            }
        )
    )
    process = spawn(
        "prometheus",
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp_path,
        f"http://127.0.0.1:{port}/-/ready",
    )

    def query(promql: str) -> list[dict[str, object]]:
        body = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": promql}, timeout=10).json()
        return list(body["data"]["result"])

    try:
        deadline = time.monotonic() + 30
        while len(query("up")) < 3 or len(query('llm_requests_total{job="acme"}')) < 1:
            assert time.monotonic() < deadline, query("up")
            time.sleep(0.25)
        up = {r["metric"]["job"]: r["value"][1] for r in query("up")}  # type: ignore[index]
        assert up == {"platform": "1", "acme": "1", "nosy": "0"}
        orgs = {r["metric"]["org"] for r in query('{job="acme", org!=""}')}  # type: ignore[index]
        assert orgs == {"acme"}
        platform = {r["metric"]["org"] for r in query('llm_requests_total{job="platform"}')}  # type: ignore[index]
        assert platform == {"acme", "globex"}
    finally:
        stop_all([process])
    text = httpx.get(
        f"https://{target}/metrics", auth=("prometheus", "s3cret"), verify=client_context(certs), timeout=10
    ).text
    assert sample_value(parse_samples(text), "llm_cost_tracker_tenant_reads_total", org="globex", code="403") >= 1


def _served_certificate(address: str, certs: dict[str, Path]) -> dict[str, object]:
    host, port = address.rsplit(":", 1)
    context = client_context(certs)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return dict(tls.getpeercert() or {})


def test_a_reload_serves_rotated_certificates_on_both_ports(
    start_server: Start, tmp_path: Path, certs: dict[str, Path], ca: trustme.CA
) -> None:
    server = start_server(
        web={"config_file": str(web_config(tmp_path, certs))},
        otlp={"tls": {"cert_file": str(certs["cert"]), "key_file": str(certs["key"])}},
    )
    web, otlp = server.service.bound["web"], server.service.bound["otlp"]
    before = _served_certificate(web, certs)["serialNumber"]
    rotated = ca.issue_cert("127.0.0.1", "localhost")
    rotated.cert_chain_pems[0].write_to_path(certs["cert"])
    rotated.private_key_pem.write_to_path(certs["key"])
    with httpx.Client(verify=client_context(certs), timeout=10) as client:
        assert client.post(f"https://{web}/-/reload", auth=("prometheus", "s3cret")).status_code == 200
    after_web = _served_certificate(web, certs)["serialNumber"]
    after_otlp = _served_certificate(otlp, certs)["serialNumber"]
    assert after_web != before
    assert after_web == after_otlp
    # A certificate that does not load is refused, and the one in use stays.
    certs["key"].write_text("not a key")
    with httpx.Client(verify=client_context(certs), timeout=10) as client:
        refused = client.post(f"https://{web}/-/reload", auth=("prometheus", "s3cret"))
        assert refused.status_code == 500
        assert "cannot load the certificate" in refused.text
    assert _served_certificate(web, certs)["serialNumber"] == after_web
