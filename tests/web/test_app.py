"""The app as a whole: body size limit, JSON errors, the dashboard's files."""

from __future__ import annotations

from collections.abc import Iterator

API = "/api/v1/assembly"


def test_bodies_over_the_limit_are_refused(start_app):
    app = start_app(max_request_bytes=2000)
    big = b"{" + b" " * 3000 + b"}"
    declared = app.http.post(f"{API}/process", content=big)
    assert declared.status_code == 413
    assert declared.json() == {
        "code": "request_too_large",
        "message": "the request body is over the 2000 byte limit (max_request_bytes)",
    }

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for _ in range(10):
            yield b" " * 500

    streamed = app.http.post(f"{API}/process", content=chunks())
    assert streamed.status_code == 413 and streamed.json()["code"] == "request_too_large"
    assert app.http.post(f"{API}/process", content=b"{}").status_code == 422  # under it: parsed


def test_errors_are_json_with_stable_codes(app):
    missing = app.http.get("/no/such/page")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = app.http.put(f"{API}/jobs/x")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


def test_the_dashboard_and_its_files_are_served(app):
    page = app.http.get("/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    for asset in ("/static/app.js", "/static/app.css"):
        assert asset in page.text
        assert app.http.get(asset).status_code == 200
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # nothing from a CDN
