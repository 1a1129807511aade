"""Pages in a real browser: headless Chromium, driven by Selenium, goes through Authsec's own
sign-in and consent pages the way a person does, by keyboard, and lands on a client's callback.

Covers what a person would notice:
  - the username field and the Allow button have focus, so TAB, typing and ENTER are enough;
  - a second authorization in the same browser goes straight back to the application;
  - a wrong password shows the sign-in page again with an alert, and signs no one in;
  - the pages cannot be framed by another site (X-Frame-Options / CSP frame-ancestors);
  - the pages declare their language, label their inputs and load nothing from elsewhere
    (the sign-in page has no script at all);
  - a screenshot of each page (sign-in, sign-in with an error, consent, error) is saved to
    Tests/Interop/artifacts/pages/ for a person to look at.

The client's callback (and its logo, and a page that tries to frame Authsec) is served by a small
`http.server` on loopback. Nothing reaches the internet: Chromium resolves no host name at all,
and Selenium uses the Debian chromedriver it is given instead of downloading one.

Needs the Debian packages `chromium` and `chromium-driver` (scripts/install-deps.sh installs them).
Without /usr/bin/chromium the module is skipped, except in CI (CI set), where it fails.

Run alone with `bash Tests/Interop/python/run.sh -k pages_browser`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from test_interop import HTTP_TIMEOUT, REPO_ROOT, launch

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing (install the Debian packages chromium and chromium-driver, "
                "as scripts/install-deps.sh does)", allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.common.exceptions import NoSuchFrameException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PASSWORD = "correct horse battery staple"
WAIT = 15  # seconds, for any one thing the browser does
SCREENSHOTS = REPO_ROOT / "Tests" / "Interop" / "artifacts" / "pages"
SCOPE = "openid profile ai:access"


# ---------------------------------------------------------------------------------------------
# The application's side: a callback, a logo, and a page that frames Authsec
# ---------------------------------------------------------------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written out by hand so that no image library is needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Site:
    """The client application on 127.0.0.1: `/callback` answers "callback received", `/logo.png`
    is its logo, and any page put in `pages` is served as HTML. Every request is recorded."""

    def __init__(self):
        self.pages: dict[str, str] = {}
        self.requests: list[tuple[str, dict]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.requests.append((self.path, dict(self.headers)))
                path = urlsplit(self.path).path
                if path == "/callback":
                    self.answer("text/plain; charset=utf-8", b"callback received")
                elif path == "/logo.png":
                    self.answer("image/png", png(48, 48, (29, 78, 216)))
                elif path in site.pages:
                    self.answer("text/html; charset=utf-8", site.pages[path].encode())
                else:
                    self.send_error(404)

            def answer(self, content_type: str, body: bytes):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def site():
    site = Site()
    try:
        yield site
    finally:
        site.close()


# ---------------------------------------------------------------------------------------------
# The server, a person and a web client
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with launch() as srv:
        srv.cli("scopes", "create", "ai:access", "--description", "Access AI features")
        password = srv.workdir / "ada.pw"
        password.write_text(PASSWORD + "\n")
        srv.cli_json("users", "create", "ada", "--email", "ada@example.com", "--name", "Ada Lovelace",
                     "--password-file", str(password), "--json")
        yield srv


@pytest.fixture
def web_client(server, site, request):
    """A web application of its own for each test: ada has consented to none of them yet."""
    body = {
        "name": "My Web App",
        "app_type": "web",
        # Served by the site: a logo from the internet would be fetched by the consent page.
        "logo": site.url("/logo.png"),
        "website": "https://myapp.com",
        "callbacks": [site.url("/callback")],
        "allowed_scopes": ["openid", "profile", "email", "ai:access"],
        "require_proof_key_for_code_exchange": True,
        "token_endpoint_auth_method": "client_secret_post",
    }
    path = server.workdir / f"{request.node.name}.json"
    path.write_text(json.dumps(body))
    return server.cli_json("clients", "create", "--file", str(path), "--json")


@pytest.fixture(scope="module")
def metadata(server):
    return requests.get(server.url("/.well-known/openid-configuration"), timeout=HTTP_TIMEOUT).json()


class Authorization:
    """One authorization request by the web client: its URL, state and PKCE verifier."""

    def __init__(self, metadata: dict, client: dict, site: Site, **overrides):
        self.verifier = secrets.token_urlsafe(48)
        self.state = "st-" + secrets.token_urlsafe(12)
        self.redirect_uri = site.url("/callback")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=")
        params = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": self.redirect_uri,
                  "scope": SCOPE, "state": self.state, "nonce": secrets.token_hex(8),
                  "code_challenge": challenge.decode(), "code_challenge_method": "S256"}
        params.update(overrides)
        self.url = metadata["authorization_endpoint"] + "?" + urlencode(params)


# ---------------------------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------------------------


def chromium_options() -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1000,900",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
        # No host name resolves, so nothing the browser does can reach the internet; the
        # server and the site are addressed as 127.0.0.1.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    return options


@pytest.fixture
def browser():
    """A fresh Chromium for each test: its own profile, so no cookie carries over."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing; in CI the browser tests must run (scripts/install-deps.sh "
                    "installs chromium and chromium-driver)")
    # The driver is given by path, so Selenium Manager (which would download one) never runs.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chromium_options())
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, condition, message: str):
    return WebDriverWait(driver, WAIT).until(condition, message)


def wait_for_focus(driver, element, message: str):
    """`autofocus` is applied at the next rendering opportunity after load, not at load itself."""
    wait(driver, lambda d: d.switch_to.active_element == element, message)


def wait_for_sign_in_page(driver):
    return wait(driver, lambda d: d.find_element(By.ID, "username"), "no sign-in page")


def wait_for_consent_page(driver):
    return wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, 'button[name="decision"][value="allow"]'),
                "no consent page")


def wait_for_callback(driver, authorization: Authorization) -> dict:
    wait(driver, lambda d: d.current_url.startswith(authorization.redirect_uri + "?"),
         "the browser did not reach the callback")
    assert driver.find_element(By.TAG_NAME, "body").text == "callback received"
    return {name: values[0] for name, values in parse_qs(urlsplit(driver.current_url).query).items()}


def sign_in_by_keyboard(driver, username: str, password: str):
    """On the sign-in page: the username field has focus; type, TAB, type, ENTER."""
    username_field = wait_for_sign_in_page(driver)
    if username_field.get_attribute("value") == username:
        # After a failed attempt the username is kept and the password field has focus.
        wait_for_focus(driver, driver.find_element(By.ID, "password"), "the password field does not have focus")
    else:
        wait_for_focus(driver, username_field, "the username field does not have focus")
        driver.switch_to.active_element.send_keys(username, Keys.TAB)
        assert driver.switch_to.active_element == driver.find_element(By.ID, "password"), "TAB does not reach password"
    driver.switch_to.active_element.send_keys(password, Keys.ENTER)


def allow_by_keyboard(driver):
    """On the consent page: Allow has focus; ENTER presses it."""
    allow = wait_for_consent_page(driver)
    assert allow.text == "Allow"
    wait_for_focus(driver, allow, "the Allow button does not have focus")
    driver.switch_to.active_element.send_keys(Keys.ENTER)


def exchange(metadata: dict, client: dict, authorization: Authorization, code: str) -> requests.Response:
    return requests.post(metadata["token_endpoint"], timeout=HTTP_TIMEOUT, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": authorization.redirect_uri,
        "code_verifier": authorization.verifier,
        "client_id": client["client_id"], "client_secret": client["client_secret"]})


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_keyboard_only_sign_in_and_consent_reach_the_callback(browser, server, metadata, web_client, site):
    authorization = Authorization(metadata, web_client, site)
    browser.get(authorization.url)
    assert browser.title == "Sign in · Authsec"
    assert "My Web App" in browser.find_element(By.TAG_NAME, "main").text
    sign_in_by_keyboard(browser, "ada", PASSWORD)

    wait_for_consent_page(browser)
    assert browser.title == "Allow access · Authsec"
    consent = browser.find_element(By.TAG_NAME, "main").text
    assert "Access AI features" in consent and "Signed in as ada" in consent
    allow_by_keyboard(browser)

    answer = wait_for_callback(browser, authorization)
    assert answer["state"] == authorization.state
    assert answer["iss"] == server.issuer
    # The code is a real one: the application can exchange it.
    tokens = exchange(metadata, web_client, authorization, answer["code"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["access_token"]


def test_second_authorization_in_the_same_browser_shows_no_page(browser, server, metadata, web_client, site):
    first = Authorization(metadata, web_client, site)
    browser.get(first.url)
    sign_in_by_keyboard(browser, "ada", PASSWORD)
    allow_by_keyboard(browser)
    wait_for_callback(browser, first)

    second = Authorization(metadata, web_client, site)
    browser.get(second.url)
    # `get` returns once the final document has loaded: had Authsec shown a page, it would be that one.
    assert browser.current_url.startswith(second.redirect_uri + "?"), browser.current_url
    answer = wait_for_callback(browser, second)
    assert answer["state"] == second.state and answer["iss"] == server.issuer
    assert exchange(metadata, web_client, second, answer["code"]).status_code == 200


def test_wrong_password_shows_the_sign_in_page_again_with_an_alert(browser, server, metadata, web_client, site):
    authorization = Authorization(metadata, web_client, site)
    browser.get(authorization.url)
    sign_in_by_keyboard(browser, "ada", "not the password")

    alert = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, '[role="alert"]'), "no alert shown")
    assert alert.text == "invalid username or password"
    assert alert.is_displayed()
    username = wait_for_sign_in_page(browser)
    # The alert is tied to the field a screen reader lands on.
    assert username.get_attribute("aria-describedby") == alert.get_attribute("id")
    form = browser.find_element(By.TAG_NAME, "form")
    assert form.get_attribute("action") == server.url("/authorize/sign-in")
    assert browser.find_element(By.CSS_SELECTOR, 'button[type="submit"]').text == "Sign in"
    assert browser.get_cookie("authsec_session") is None
    assert not browser.current_url.startswith(authorization.redirect_uri)


def test_pages_cannot_be_framed_by_another_site(browser, metadata, web_client, site):
    authorization = Authorization(metadata, web_client, site)
    site.pages["/framer"] = (
        '<!doctype html><html lang="en"><title>framer</title>'
        '<iframe id="control" src="/callback"></iframe>'
        f'<iframe id="authsec" src="{authorization.url.replace("&", "&amp;")}"></iframe>')
    # `get` waits for the load event, which waits for every frame, blocked or not.
    browser.get(site.url("/framer"))

    # The control frame shows that frames do render here, so the check below is not vacuous.
    browser.switch_to.frame(browser.find_element(By.ID, "control"))
    assert browser.find_element(By.TAG_NAME, "body").text == "callback received"
    browser.switch_to.default_content()

    frame = browser.find_element(By.ID, "authsec")
    try:
        browser.switch_to.frame(frame)
    except NoSuchFrameException:
        return  # no document at all in the frame: blocked
    try:
        assert browser.find_elements(By.ID, "username") == []
        assert browser.find_elements(By.TAG_NAME, "form") == []
        assert "Sign in" not in browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.switch_to.default_content()


def test_pages_declare_their_language_label_their_inputs_and_load_nothing_from_elsewhere(
        browser, server, metadata, web_client, site):
    authorization = Authorization(metadata, web_client, site)
    browser.get(authorization.url)
    wait_for_sign_in_page(browser)
    assert_language_and_own_resources(browser, server)
    assert browser.find_elements(By.TAG_NAME, "script") == []
    for name, text in (("username", "Username"), ("password", "Password")):
        label = browser.find_element(By.CSS_SELECTOR, f'label[for="{name}"]')
        assert label.text == text
        field = browser.find_element(By.ID, name)
        assert field.get_attribute("required") == "true"
        # Clicking the label focuses its field.
        label.click()
        assert browser.switch_to.active_element == field

    browser.find_element(By.ID, "username").send_keys("ada")
    browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER)
    wait_for_consent_page(browser)
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    # The one thing a consent page loads from elsewhere is the client's registered logo, and it
    # loads it without telling the logo's host which page (and flow) asked for it.
    images = [img.get_attribute("src") for img in browser.find_elements(By.TAG_NAME, "img")]
    assert images == [web_client["logo"]]
    wait(browser, lambda d: d.execute_script(
        "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"), "the logo did not load")
    logo_requests = [headers for path, headers in site.requests if path == "/logo.png"]
    assert logo_requests and all("Referer" not in headers for headers in logo_requests)

    error = Authorization(metadata, web_client, site, client_id="no-such-client")
    browser.get(error.url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Unknown application"
    assert_language_and_own_resources(browser, server)


def test_screenshots_of_each_page(browser, server, metadata, web_client, site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    names = ("sign-in", "sign-in-error", "consent", "error", "device", "device-approve", "device-done", "signed-out")
    for name in names:
        (SCREENSHOTS / f"{name}.png").unlink(missing_ok=True)

    authorization = Authorization(metadata, web_client, site)
    browser.get(authorization.url)
    wait_for_sign_in_page(browser)
    screenshot(browser, "sign-in")

    sign_in_by_keyboard(browser, "ada", "not the password")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, '[role="alert"]'), "no alert shown")
    # The username is kept; only the password is typed again.
    assert browser.find_element(By.ID, "username").get_attribute("value") == "ada"
    screenshot(browser, "sign-in-error")

    sign_in_by_keyboard(browser, "ada", PASSWORD)
    wait_for_consent_page(browser)
    wait(browser, lambda d: d.execute_script(
        "return [...document.images].every(i => i.complete)"), "the logo did not load")
    screenshot(browser, "consent")
    # Deny, by mouse this time: the application hears access_denied.
    browser.find_element(By.CSS_SELECTOR, 'button[name="decision"][value="deny"]').click()
    answer = wait_for_callback(browser, authorization)
    assert answer["error"] == "access_denied" and answer["state"] == authorization.state

    # An unregistered redirect URI: an error page, and the browser stays on Authsec.
    unregistered = Authorization(metadata, web_client, site, redirect_uri=site.url("/elsewhere"))
    browser.get(unregistered.url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "This request cannot be completed"
    assert "redirect_uri" in browser.find_element(By.CSS_SELECTOR, '[role="alert"]').text
    assert browser.current_url.startswith(metadata["authorization_endpoint"])
    screenshot(browser, "error")

    # The device flow's pages, by keyboard: code entry, then (signed in above) the approval.
    path = server.workdir / "device-client.json"
    path.write_text(json.dumps({"name": "Living-room TV", "app_type": "mobile", "callbacks": ["com.tv.app:/cb"],
                                "grant_types": ["device_code"], "allowed_scopes": ["openid"]}))
    device_client = server.cli_json("clients", "create", "--file", str(path), "--json")
    device = requests.post(metadata["device_authorization_endpoint"], timeout=HTTP_TIMEOUT,
                           data={"client_id": device_client["client_id"], "scope": "openid"}).json()
    browser.get(device["verification_uri"])
    code_field = wait(browser, lambda d: d.find_element(By.ID, "user_code"), "no code entry field")
    wait_for_focus(browser, code_field, "the code field does not have focus")
    screenshot(browser, "device")
    browser.switch_to.active_element.send_keys(device["user_code"].lower(), Keys.ENTER)
    allow = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, 'button[name="decision"][value="allow"]'),
                 "no device approval page")
    assert device["user_code"] in browser.page_source
    screenshot(browser, "device-approve")
    wait_for_focus(browser, allow, "the Allow button does not have focus")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Device connected", "no device done page")
    screenshot(browser, "device-done")

    # Signing out: the signed-out page.
    browser.get(metadata["end_session_endpoint"])
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Signed out", "no signed-out page")
    screenshot(browser, "signed-out")

    for name in names:
        data = (SCREENSHOTS / f"{name}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR", name
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 500 and height >= 400, (name, width, height)
        assert len(data) > 1024, (name, len(data))


# ---------------------------------------------------------------------------------------------
# Helpers for the checks above
# ---------------------------------------------------------------------------------------------


def screenshot(driver, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), name
    return path


def assert_language_and_own_resources(driver, server):
    """`<html lang="en">`, and every resource the page names or loaded is Authsec's own."""
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    named = driver.execute_script(
        "return [...document.querySelectorAll('img[src], script[src], link[href], iframe[src]')]"
        ".map(e => e.src || e.href)")
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    for url in named + loaded:
        assert url.startswith(server.base_url + "/"), url
