#!/usr/bin/env python3
"""An MCP server whose tools only answer callers holding an Authsec access token.

It uses the official MCP Python SDK (`mcp` 2.x) as an OAuth *resource server*:

* the SDK serves RFC 9728 protected-resource metadata at
  /.well-known/oauth-protected-resource/mcp, naming Authsec as the authorization server,
  and answers unauthenticated requests with
  `401 WWW-Authenticate: Bearer resource_metadata="..."`, which is how an MCP client
  discovers where to get a token;
* this file supplies the token check (a `TokenVerifier`), in one of two ways:
    --verify introspection  ask Authsec (RFC 7662) with this server's own client
                            credentials; Authsec only shows claims of tokens issued for it
    --verify jwks           check the ES256 JWT locally against Authsec's published keys

Either way a token is accepted only if its `aud` names this server's MCP URL, the
RFC 8707 `resource` the client asked Authsec for.

    python server.py --issuer http://127.0.0.1:8080 --port 8000 \
        --client-id ID --client-secret SECRET     # or AUTHSEC_CLIENT_ID / AUTHSEC_CLIENT_SECRET

Prints `mcp server listening on http://127.0.0.1:PORT/mcp` once it accepts connections
(--port 0 picks a free port).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any, TypedDict

import anyio
import httpx2
import jwt
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

HTTP_TIMEOUT = 10.0


def audience_includes(aud: Any, resource: str) -> bool:
    """`aud` may be one string or a list of them (RFC 7519 §4.1.3)."""
    audiences = [aud] if isinstance(aud, str) else aud or []
    return resource in audiences


def access_token(token: str, claims: dict, resource: str) -> AccessToken:
    """What the SDK keeps about a checked token (tools read it with get_access_token())."""
    return AccessToken(
        token=token,
        client_id=claims.get("client_id", ""),
        scopes=(claims.get("scope") or "").split(),
        expires_at=claims.get("exp"),
        resource=resource,  # checked above: the token was issued for this server
        subject=claims.get("sub"),
        claims=claims,
    )


class IntrospectionVerifier:
    """RFC 7662: ask Authsec whether the token is active, authenticating as this server."""

    def __init__(self, endpoint: str, client_id: str, client_secret: str, resource: str):
        self.endpoint = endpoint
        self.auth = httpx2.BasicAuth(client_id, client_secret)
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        async with httpx2.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            resp = await http.post(self.endpoint, data={"token": token}, auth=self.auth)
        if resp.status_code != 200:
            print(f"introspection answered {resp.status_code}: {resp.text}", file=sys.stderr)
            return None
        claims = resp.json()
        # Authsec answers {"active": false} for a token issued for another resource.
        if claims.get("active") is not True or not audience_includes(claims.get("aud"), self.resource):
            return None
        return access_token(token, claims, self.resource)


class JWKSVerifier:
    """RFC 9068 JWT access tokens checked locally: signature (ES256), iss, aud, exp."""

    def __init__(self, jwks_uri: str, issuer: str, resource: str):
        self.jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True, timeout=HTTP_TIMEOUT)
        self.issuer = issuer
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            if jwt.get_unverified_header(token).get("typ") != "at+jwt":
                return None  # e.g. an ID token: not meant for resource servers
            # PyJWKClient fetches (and caches) the keys with blocking I/O: off the event loop.
            key = await anyio.to_thread.run_sync(self.jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token, key.key, algorithms=["ES256"], issuer=self.issuer, audience=self.resource,
                options={"require": ["iss", "aud", "exp", "sub"]})
        except jwt.PyJWTError:
            return None
        return access_token(token, claims, self.resource)


def authorization_server_metadata(issuer: str) -> dict:
    """RFC 8414 metadata: where Authsec's introspection endpoint and keys are."""
    resp = httpx2.get(issuer + "/.well-known/oauth-authorization-server", timeout=HTTP_TIMEOUT)
    resp.raise_for_status()
    metadata = resp.json()
    if metadata.get("issuer") != issuer:
        raise SystemExit(f"metadata names issuer {metadata.get('issuer')!r}, not {issuer!r}")
    return metadata


class Caller(TypedDict):
    sub: str | None  # the person (Authsec user id) the token speaks for
    client_id: str  # the MCP client they use
    scope: str


def build_server(args: argparse.Namespace, resource: str) -> MCPServer:
    metadata = authorization_server_metadata(args.issuer)
    if args.verify == "jwks":
        verifier = JWKSVerifier(metadata["jwks_uri"], args.issuer, resource)
    else:
        if not (args.client_id and args.client_secret):
            raise SystemExit("--verify introspection needs --client-id and --client-secret")
        verifier = IntrospectionVerifier(
            metadata["introspection_endpoint"], args.client_id, args.client_secret, resource)

    mcp = MCPServer(
        "Example MCP server",
        log_level="WARNING",
        token_verifier=verifier,
        auth=AuthSettings(
            issuer_url=args.issuer,            # listed in authorization_servers
            resource_server_url=resource,      # the `resource` of the metadata, the tokens' aud
            validate_token_resource=True,      # the SDK checks AccessToken.resource too
        ),
    )

    @mcp.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @mcp.tool()
    def whoami() -> Caller:
        """Who the access token speaks for: Authsec's `sub` and the MCP client's id."""
        token = get_access_token()  # what the TokenVerifier returned for this request
        return Caller(sub=token.subject, client_id=token.client_id, scope=" ".join(token.scopes))

    return mcp


async def serve(args: argparse.Namespace) -> None:
    # Bind first so that --port 0 gives us the real port for the resource URL.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    resource = f"http://{args.host}:{sock.getsockname()[1]}/mcp"

    app = build_server(args, resource).streamable_http_app(host=args.host)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))

    async def announce() -> None:
        while not server.started:
            await anyio.sleep(0.02)
        print(f"mcp server listening on {resource}", flush=True)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(announce)
        await server.serve(sockets=[sock])
        tasks.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issuer", default=os.environ.get("AUTHSEC_ISSUER"), required="AUTHSEC_ISSUER" not in os.environ,
                        help="Authsec's issuer URL, e.g. http://127.0.0.1:8080 (env AUTHSEC_ISSUER)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--client-id", default=os.environ.get("AUTHSEC_CLIENT_ID"),
                        help="this server's Authsec client (env AUTHSEC_CLIENT_ID)")
    parser.add_argument("--client-secret", default=os.environ.get("AUTHSEC_CLIENT_SECRET"),
                        help="(env AUTHSEC_CLIENT_SECRET)")
    parser.add_argument("--verify", choices=["introspection", "jwks"], default="introspection")
    args = parser.parse_args()
    args.issuer = args.issuer.rstrip("/")
    try:
        anyio.run(serve, args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
