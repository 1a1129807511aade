"""An MCP client for the example server: the official MCP Python SDK's OAuth client, unmodified.

    .venv/bin/python client.py http://127.0.0.1:8000/mcp

It finds Authsec from the server's 401, registers itself (RFC 7591), prints the sign-in URL (and
opens it in a browser when there is one), waits for Authsec to send the browser back to its
loopback callback, then lists the tools and calls `add` and `whoami` with an access token bound
to the server. `--client-metadata-url URL` uses a Client ID Metadata Document instead of
registering (the SDK accepts only an https URL there).
"""

from __future__ import annotations

import argparse
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl


class MemoryStorage:
    """Where the SDK keeps its registration and tokens: in memory, for one run."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Callback:
    """A one-shot HTTP server on the loopback callback: the browser lands here after sign-in."""

    def __init__(self, port: int):
        self.params: dict = {}
        self.arrived = threading.Event()
        callback = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                callback.params = {name: values[0] for name, values in query.items()}
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(b"Signed in. You can close this window.\n")
                callback.arrived.set()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self) -> dict:
        self.arrived.wait()
        self.server.shutdown()
        return self.params


async def main(args: argparse.Namespace) -> None:
    callback = Callback(args.callback_port)

    async def open_sign_in(url: str) -> None:
        print(f"sign in at: {url}", flush=True)
        if not args.no_browser:
            webbrowser.open(url)

    async def wait_for_callback() -> AuthorizationCodeResult:
        params = await anyio.to_thread.run_sync(callback.wait)
        if "error" in params:
            raise SystemExit(f"authorization refused: {params['error']}: {params.get('error_description', '')}")
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    provider = OAuthClientProvider(
        args.server,
        OAuthClientMetadata(
            client_name="Example MCP client",
            redirect_uris=[AnyUrl(callback.uri)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        MemoryStorage(),
        redirect_handler=open_sign_in,
        callback_handler=wait_for_callback,
        client_metadata_url=args.client_metadata_url,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30.0) as http:
        async with Client(streamable_http_client(args.server, http_client=http)) as client:
            tools = await client.list_tools()
            print("tools:", ", ".join(sorted(tool.name for tool in tools.tools)), flush=True)
            added = await client.call_tool("add", {"a": 2, "b": 40})
            print("add(2, 40) =", added.structured_content, flush=True)
            whoami = await client.call_tool("whoami", {})
            print("whoami =", whoami.structured_content, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("server", help="the MCP server's URL, e.g. http://127.0.0.1:8000/mcp")
    parser.add_argument("--callback-port", type=int, default=33418, help="loopback port for the sign-in callback")
    parser.add_argument("--client-metadata-url", help="an https Client ID Metadata Document URL, instead of /register")
    parser.add_argument("--no-browser", action="store_true", help="only print the sign-in URL")
    anyio.run(main, parser.parse_args())
