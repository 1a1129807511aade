"""AI clients under control, through stock clients: the product page's agent with
`rate_limits`, refused on its sixth request of a minute over HTTP (requests, Authlib) and over
the wire (the authsec CLI), and `/metrics` read with prometheus-client's own parser.

Run with the rest: `bash Tests/Interop/python/run.sh`.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from prometheus_client.parser import text_string_to_metric_families

import jwt

from test_interop import HTTP_TIMEOUT, authsec_bin, launch, verify_access_token

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


def audit_events(server, *args: str) -> list:
    out = server.cli("audit", "--json", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for(predicate, timeout: float = 5.0):
    """Polls `predicate` until it returns a truthy value (audit events and usage are flushed each second)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_a_new_user_reads_what_an_agent_did_in_audit_usage_and_metrics(server, tmp_path):
    """The issue's "done when": an agent over its rate limit and its daily budget, seen in
    `authsec audit`, `authsec usage`, `authsec clients history --diff` and /metrics."""
    agent_file = dict(AGENT_FILE, name="Audited assistant",
                      allowed_audiences=["https://gateway.example/llm"])
    agent_file["aiAgentConfig"] = dict(AGENT_FILE["aiAgentConfig"],
                                       rate_limits={"requests_per_minute": 5, "tokens_per_day": 1000})
    path = tmp_path / "audited.json"
    path.write_text(json.dumps(agent_file))
    agent = server.cli_json("clients", "create", "--file", str(path), "--json")
    gateway_path = tmp_path / "gateway.json"
    gateway_path.write_text(json.dumps({"name": "LLM gateway", "resources": ["https://gateway.example/llm"]}))
    gateway = server.cli_json("clients", "create", "--file", str(gateway_path), "--json")

    token_url = server.url("/oauth/token")
    statuses = []
    agent_token = None
    for _ in range(6):
        resp = requests.post(token_url, data={"grant_type": "client_credentials",
                                              "resource": "https://gateway.example/llm"},
                             auth=(agent["client_id"], agent["client_secret"]), timeout=HTTP_TIMEOUT)
        statuses.append(resp.status_code)
        if resp.status_code == 200:
            agent_token = resp.json()["access_token"]
    assert statuses == [200] * 5 + [429]

    charged = []
    while True:
        resp = requests.post(server.url("/quota/charge"), data={"token": agent_token, "amount": 300},
                             auth=(gateway["client_id"], gateway["client_secret"]), timeout=HTTP_TIMEOUT)
        assert resp.status_code == 200, resp.text
        charged.append(resp.json()["allowed"])
        if not resp.json()["allowed"]:
            break
    assert charged == [True, True, True, False]

    server.cli("clients", "update", agent["client_id"], "--description", "now audited")

    agent_id = agent["client_id"]
    def flushed():
        events = audit_events(server, "--client", agent_id)
        issued = sum(e["count"] for e in events if e["type"] == "token.issue")
        return events if issued == 5 and any(e["type"] == "quota.exhausted" for e in events) else None

    events = wait_for(flushed)
    assert events, audit_events(server, "--client", agent_id)
    by_type = {}
    for event in events:
        by_type[event["type"]] = by_type.get(event["type"], 0) + event["count"]
        assert event["client_id"] == agent_id or event["actor"] == agent_id
        for secret in (agent["client_secret"], gateway["client_secret"], server.admin_secret, agent_token):
            assert secret not in json.dumps(event)
    assert by_type.get("client.create") == 1 and by_type.get("client.update") == 1
    assert sum(e["count"] for e in audit_events(server, "--client", agent_id, "--type", "token.issue")) == 5
    assert sum(e["count"] for e in audit_events(server, "--client", agent_id, "--type", "rate_limit.hit")) == 1
    exhausted = audit_events(server, "--client", agent_id, "--type", "quota.exhausted")
    assert [e["actor"] for e in exhausted] == [gateway["client_id"]]
    assert {e["door"] for e in events if e["type"] == "token.issue"} == {"http"}

    table = server.cli("audit", "--client", agent_id).stdout
    assert "TYPE" in table.splitlines()[0] and "rate_limit.hit" in table

    usage = server.cli_json("usage", agent_id, "--json")
    totals = usage["clients"][0]["totals"]
    assert totals["tokens_issued"] == 5 and totals["rate_limited"] == 1 and totals["quota_spent"] == 900
    assert agent_id in server.cli("usage").stdout

    history = server.cli("clients", "history", agent_id, "--diff").stdout
    assert 'description: "" → "now audited"' in history, history
    versions = server.cli_json("clients", "history", agent_id, "--json")["versions"]
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["client"]["description"] == "now audited"

    samples = metric_samples(server)
    assert samples[("authsec_errors_total", frozenset({"door": "http", "code": "rate_limited"}.items()))] >= 1

    bad = server.cli("audit", "--since", "yesterday", check=False)
    assert bad.returncode != 0 and "--since" in bad.stderr


def test_audit_follow_prints_events_as_they_happen(server):
    env = dict(os.environ, AUTHSEC_ADDRESS=server.wire_address, AUTHSEC_CLIENT_ID=server.admin_id,
               AUTHSEC_CLIENT_SECRET=server.admin_secret)
    follower = subprocess.Popen([authsec_bin(), "audit", "--follow", "--json", "--since", "1s",
                                 "--type", "scope.create"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        server.cli("scopes", "create", "followed:scope", "--description", "seen live")
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(follower.stdout.readline()), daemon=True).start()
        event = json.loads(lines.get(timeout=10))
        assert event["type"] == "scope.create" and event["detail"] == "followed:scope"
        assert event["actor"] == server.admin_id
    finally:
        follower.terminate()
        follower.wait(timeout=10)
