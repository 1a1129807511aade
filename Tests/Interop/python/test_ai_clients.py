"""AI clients under control, through stock clients: the product page's agent with
`rate_limits`, refused on its sixth request of a minute over HTTP (requests, Authlib) and over
the wire (the authsec CLI), and `/metrics` read with prometheus-client's own parser.

Run with the rest: `bash Tests/Interop/python/run.sh`.
"""

from __future__ import annotations

import json

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from prometheus_client.parser import text_string_to_metric_families

import jwt

from test_interop import HTTP_TIMEOUT, launch, verify_access_token

# The product page's AI agent configuration, as its JavaScript object is written, limited to
# five requests a minute.
AGENT_FILE = {
    "name": "Rate-limited assistant",
    "app_type": "ai_agent",
    "aiAgentConfig": {
        "agent_type": "conversational",
        "capabilities": ["text_generation", "data_analysis", "api_integration"],
        "context_retention": "24h",
        "max_context_size": 32768,
        "rate_limits": {"requests_per_minute": 5, "tokens_per_day": 1000000},
    },
}


@pytest.fixture(scope="module")
def server():
    with launch() as srv:
        yield srv


def limited_agent(server, tmp_path) -> dict:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(AGENT_FILE))
    client = server.cli_json("clients", "create", "--file", str(path), "--json")
    assert client["agent_config"]["rate_limits"]["requests_per_minute"] == 5
    return client


def metric_samples(server) -> dict:
    """{(name, frozenset(labels)): value} from /metrics, parsed as Prometheus parses it."""
    resp = requests.get(server.url("/metrics"), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def test_sixth_request_of_a_minute_is_refused_on_both_doors(server, tmp_path):
    client = limited_agent(server, tmp_path)
    token_url = server.url("/oauth/token")
    session = OAuth2Session(
        client["client_id"], client["client_secret"], token_endpoint_auth_method="client_secret_post")
    # Three over HTTP with Authlib, two over the wire with the CLI: one counter for both doors.
    for _ in range(3):
        assert session.fetch_token(token_url, grant_type="client_credentials")["access_token"]
    for _ in range(2):
        server.cli("token", "--client-id", client["client_id"], "--client-secret", client["client_secret"])

    resp = requests.post(
        token_url, data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 429
    assert resp.json()["error"] == "rate_limited"
    assert 1 <= int(resp.headers["Retry-After"]) <= 12
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(token_url, grant_type="client_credentials")
    assert refused.value.error == "rate_limited"

    wire = server.cli(
        "token", "--client-id", client["client_id"], "--client-secret", client["client_secret"], check=False)
    assert wire.returncode != 0
    assert "rate_limited" in wire.stderr

    # Another client is not limited.
    other = requests.post(
        token_url, data={"grant_type": "client_credentials"},
        auth=(server.admin_id, server.admin_secret), timeout=HTTP_TIMEOUT)
    assert other.status_code == 200

    samples = metric_samples(server)
    assert samples[("authsec_errors_total", frozenset({"door": "http", "code": "rate_limited"}.items()))] >= 2
    assert samples[("authsec_errors_total", frozenset({"door": "wire", "code": "rate_limited"}.items()))] >= 1


def test_metrics_are_valid_prometheus_text_with_bounded_labels(server):
    requests.get(server.url("/healthz"), timeout=HTTP_TIMEOUT)
    samples = metric_samples(server)
    names = {name for name, _ in samples}
    for expected in ("authsec_requests_total", "authsec_request_duration_seconds_bucket",
                     "authsec_errors_total", "authsec_open_connections",
                     "authsec_store_commit_duration_seconds_count"):
        assert expected in names, expected
    assert samples[("authsec_requests_total", frozenset({"door": "http", "call": "health"}.items()))] >= 1
    label_names = {key for _, labels in samples for key, _ in labels}
    assert label_names <= {"door", "call", "code", "le"}, label_names


def test_agent_settings_reach_resource_servers_in_tokens_and_introspection(server, tmp_path):
    # The product page's agent, its settings at the top level, asking for them as token claims.
    path = tmp_path / "claims-agent.json"
    path.write_text(json.dumps({
        "name": "Claims agent", "app_type": "ai_agent", "allowed_audiences": ["https://tools.example"],
        "agent_type": "analytical", "capabilities": ["data_analysis"], "context_retention": "1h",
        "max_context_size": 4096, "claims_in_token": True,
    }))
    agent = server.cli_json("clients", "create", "--file", str(path), "--json")
    assert agent["agent_config"]["claims_in_token"] is True
    resp = requests.post(
        server.url("/oauth/token"),
        data={"grant_type": "client_credentials", "resource": "https://tools.example"},
        auth=(agent["client_id"], agent["client_secret"]), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    metadata = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=HTTP_TIMEOUT).json()
    claims = verify_access_token(
        token, jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False, timeout=HTTP_TIMEOUT),
        metadata["issuer"], "https://tools.example")
    assert claims["agent"] == {
        "agent_type": "analytical", "capabilities": ["data_analysis"], "context_retention": "1h",
        "max_context_size": 4096}

    seen = requests.post(
        server.url("/oauth/introspect"), data={"token": token},
        auth=(agent["client_id"], agent["client_secret"]), timeout=HTTP_TIMEOUT).json()
    assert seen["active"] is True
    assert seen["agent"] == claims["agent"]
