"""Prints what a browser would POST to sign in, for wrk: the CSRF cookie header and the form body.

    python3 Benchmarks/signin/form.py ISSUER CLIENT_ID REDIRECT_URI USERNAME PASSWORD

Standard library only. The sealed flow in the form is good for 10 minutes and may be posted again
and again; each post is a full sign-in (a bcrypt check and a new session).
"""
import base64
import hashlib
import re
import sys
import urllib.parse
import urllib.request

issuer, client_id, redirect_uri, username, password = sys.argv[1:6]
verifier = "s" * 64
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
query = urllib.parse.urlencode({
    "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
    "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "login"})
with urllib.request.urlopen(f"{issuer}/authorize?{query}", timeout=10) as page:
    html = page.read().decode()
    cookie = page.headers["Set-Cookie"].split(";")[0]
fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', html))
fields.update(username=username, password=password)
print(f"Cookie: {cookie}")
print(urllib.parse.urlencode(fields))
