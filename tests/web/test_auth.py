"""The API token, browser Origins and Hosts, and keeping the token out of the logs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from assemblyd.web.auth import COOKIE, RedactTokens

TOKEN = "s3cret-token-0123456789"
API = "/api/v1/assembly"
GUARDED = [
    ("GET", "/"),
    ("GET", "/openapi.json"),
    ("GET", "/static/app.js"),
    ("GET", f"{API}/jobs"),
    ("GET", f"{API}/jobs/x"),
    ("DELETE", f"{API}/jobs/x"),
    ("GET", f"{API}/jobs/x/progress"),
    ("GET", f"{API}/exports/x"),
    ("GET", "/jobs/x"),
    ("GET", f"{API}/jobs/x/details"),
    ("GET", f"{API}/jobs/x/poster"),
    ("GET", f"{API}/jobs/x/exports/0"),
    ("GET", f"{API}/jobs/x/exports/0/sheet"),
    ("GET", f"{API}/jobs/x/shots/0/thumbnail"),
    ("GET", f"{API}/projects"),
    ("POST", f"{API}/process"),
]


@pytest.fixture
def locked(start_app):
    return start_app(api_token=TOKEN)


def test_everything_but_healthz_needs_the_token(locked):
    bare = httpx.Client(base_url=locked.url)
    for method, path in GUARDED:
        response = bare.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "unauthorized"
    assert bare.get("/healthz").status_code == 200
    assert bare.get("/static/app.css").status_code == 200  # the sign-in page's style
    wrong = httpx.Client(base_url=locked.url, headers={"Authorization": "Bearer nope"})
    assert wrong.get(f"{API}/jobs").status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"{locked.ws_url}{API}/ws", open_timeout=10)
    assert refused.value.response.status_code == 401


def test_bearer_cookie_and_query_token_are_accepted(locked):
    assert locked.http.get(f"{API}/jobs").status_code == 200  # Bearer
    bare = httpx.Client(base_url=locked.url)
    assert (
        httpx.Client(base_url=locked.url, cookies={COOKIE: TOKEN}).get(f"{API}/jobs").status_code
        == 200
    )
    assert bare.get(f"{API}/jobs", params={"token": TOKEN}).status_code == 200
    # Not for changes: a token in a URL ends up in places a header does not.
    assert bare.post(f"{API}/process", params={"token": TOKEN}, json={}).status_code == 401
    with ws_connect(f"{locked.ws_url}{API}/ws?token={TOKEN}", open_timeout=10) as ws:
        assert '"snapshot"' in ws.recv(timeout=10)
    with ws_connect(
        f"{locked.ws_url}{API}/ws",
        open_timeout=10,
        additional_headers={"Cookie": f"{COOKIE}={TOKEN}"},
    ) as ws:
        assert '"snapshot"' in ws.recv(timeout=10)


def test_opening_the_dashboard_with_the_token_trades_it_for_a_cookie(locked):
    browser = httpx.Client(base_url=locked.url, headers={"Accept": "text/html"})
    login = browser.get("/")
    assert login.status_code == 401 and "<form" in login.text and 'name="token"' in login.text
    response = browser.get("/", params={"token": TOKEN, "x": "1"})
    assert response.status_code == 303 and response.headers["location"] == "/?x=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN}")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = browser.get("/")  # the client kept the cookie
    assert page.status_code == 200 and "assemblyd" in page.text


def test_a_job_page_signs_in_and_comes_back_to_itself(locked):
    browser = httpx.Client(base_url=locked.url, headers={"Accept": "text/html"})
    login = browser.get("/jobs/asm-x")
    assert login.status_code == 401 and 'name="token"' in login.text
    assert 'action="' not in login.text  # the form comes back to this page
    response = browser.get("/jobs/asm-x", params={"token": TOKEN})
    assert response.status_code == 303 and response.headers["location"] == "/jobs/asm-x"
    assert response.headers["set-cookie"].startswith(f"{COOKIE}={TOKEN}")
    page = browser.get("/jobs/asm-x")
    assert page.status_code == 200 and 'src="/static/job.js"' in page.text
    # Only pages trade the token: below a page it is the API's JSON refusal.
    deeper = httpx.Client(base_url=locked.url, headers={"Accept": "text/html"})
    refused = deeper.get("/jobs/asm-x/y", params={"token": "wrong"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"


def test_the_token_never_reaches_the_logs(locked, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the client's log is not ours

    def bare() -> httpx.Client:  # no cookie jar carried between requests
        return httpx.Client(base_url=locked.url)

    bare().get("/", params={"token": TOKEN})
    bare().get(f"{API}/jobs", params={"state": "queued", "token": TOKEN})
    bare().get(f"{API}/jobs/asm-x/progress", params={"token": TOKEN})
    assert bare().get(f"{API}/jobs", params={"token": "wrong-" + TOKEN}).status_code == 401
    locked.http.get(f"{API}/jobs")
    with ws_connect(f"{locked.ws_url}{API}/ws?token={TOKEN}", open_timeout=10) as ws:
        ws.recv(timeout=10)
    with pytest.raises(InvalidStatus):
        ws_connect(f"{locked.ws_url}{API}/ws?token=wrong-{TOKEN}", open_timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")]
    # The requests were logged (so this test looks at real access lines) ...
    assert any(f"GET {API}/jobs?state=queued&token=*** HTTP/1.1" in line for line in lines), lines
    assert any("WebSocket /api/v1/assembly/ws?token=***" in line for line in lines), lines
    # ... and the token is in none of them, nor in anything else logged.
    assert TOKEN not in caplog.text
    assert not [line for line in lines if TOKEN in line]
    # A refused WebSocket is not an error (see web.auth.WS_DENIED).
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_redaction_covers_query_values_and_the_token_anywhere():
    redact = RedactTokens()
    redact.tokens.add("abc123")
    assert redact.redact("/x?a=1&token=zzz&b=2") == "/x?a=1&token=***&b=2"
    assert redact.redact("/x?TOKEN=zzz") == "/x?TOKEN=***"
    assert redact.redact("Bearer abc123 seen") == "Bearer *** seen"


def test_a_foreign_origin_is_refused_before_the_websocket_opens(app):
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"{app.ws_url}{API}/ws", origin="http://evil.example", open_timeout=10)
    assert refused.value.response.status_code == 403
    assert b"forbidden_origin" in refused.value.response.body
    # Refused before the handshake: the app never subscribed it to anything.
    assert not app.hub.subscribers and not app.hub.listening
    with ws_connect(f"{app.ws_url}{API}/ws", origin=app.url, open_timeout=10) as ws:
        assert '"snapshot"' in ws.recv(timeout=10)


def test_a_foreign_origin_cannot_change_anything(app, project_with, root):
    rel = project_with("seq010", ["wide24.mp4"])
    evil = {"Origin": "http://evil.example"}
    body = json.dumps({"project": rel, "shots": ["shots/wide24.mp4"]})
    # As a cross-site form would send it: a "simple" request, with no preflight.
    response = app.http.post(
        f"{API}/process", content=body, headers={**evil, "Content-Type": "text/plain"}
    )
    assert response.status_code == 403 and response.json()["code"] == "forbidden_origin"
    assert not (root / rel / "assembly.json").exists()
    assert app.http.delete(f"{API}/jobs/x", headers=evil).status_code == 403
    # Reading is harmless, and same-origin writes work.
    assert app.http.get(f"{API}/jobs", headers=evil).status_code == 200
    same = app.http.post(
        f"{API}/process",
        headers={"Origin": app.url},
        json={"project": rel, "shots": ["shots/wide24.mp4"]},
    )
    assert same.status_code == 202


def test_without_a_token_only_loopback_host_names_are_answered(app, locked):
    rebound = {"Host": "attacker.example"}
    response = app.http.get(f"{API}/jobs", headers=rebound)
    assert response.status_code == 403 and response.json()["code"] == "forbidden_host"
    for host in ("localhost", "127.0.0.1", "[::1]", "app.localhost"):
        assert app.http.get(f"{API}/jobs", headers={"Host": host}).status_code == 200, host
    # With a token, the token is the protection: any name may be used.
    assert locked.http.get(f"{API}/jobs", headers=rebound).status_code == 200


def test_a_token_with_awkward_characters_survives_the_cookie(start_app):
    token = 'tok;en "with" spaces=1'
    app = start_app(api_token=token)
    browser = httpx.Client(base_url=app.url, headers={"Accept": "text/html"})
    assert browser.get("/", params={"token": token}).status_code == 303
    assert browser.get(f"{API}/jobs").status_code == 200  # by the cookie alone
    (cookie,) = browser.cookies.jar  # as the browser stored it (quoted)
    with ws_connect(
        f"{app.ws_url}{API}/ws",
        open_timeout=10,
        additional_headers={"Cookie": f"{COOKIE}={cookie.value}"},
    ) as ws:
        assert '"snapshot"' in ws.recv(timeout=10)
