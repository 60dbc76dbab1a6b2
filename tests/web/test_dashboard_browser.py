"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright
(see tests/web/browser.py).

``ASSEMBLYD_SCREENSHOTS=docs`` also writes the documentation's screenshots of the
job list, at 1440x900 and at 390x844 (``docs/dashboard.png``, ``docs/dashboard-phone.png``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from assemblyd.queue.admission import admit
from tests.conftest import wait_for
from tests.web.browser import (
    DESKTOP,
    PHONE,
    assert_laid_out,
    open_page,
    save_screenshot,
)
from tests.web.conftest import LONG_OUTPUT, SMALL

#: Records every value each job's bar shows, to prove it moved (not just ended at 100).
RECORD_BARS = """
window.__bars = {};
new MutationObserver((changes) => {
  for (const c of changes) {
    const row = c.target.closest && c.target.closest("tr.job");
    if (!row || c.attributeName !== "aria-valuenow") continue;
    (window.__bars[row.dataset.id] ||= []).push(Number(c.target.getAttribute("aria-valuenow")));
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["aria-valuenow"]});
"""
#: What lies side by side in the job list, and must not overlap.
LIST_ROWS = ["tr.job", "tr.job-error", ".p-link", ".bar-meta", ".topbar", ".health", ".toolbar"]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context, page, errors = open_page(browser, DESKTOP, RECORD_BARS)
    yield page
    context.close()
    assert errors == [], errors


def _open(page: Any, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(url + "/")
    expect(page.locator("#live")).to_have_text("live")


def _fill(page: Any, project: str, shots: list[str], output: dict[str, str]) -> None:
    page.fill("#f-project", project)
    page.fill("#f-shots", "\n".join(shots))
    page.select_option("#f-resolution", output["resolution"])
    page.select_option("#f-quality", output["quality_preset"])
    page.select_option("#f-format", output.get("output_format", "mp4"))
    page.click("#f-submit")


def test_a_job_submitted_in_the_form_runs_to_100_and_can_be_downloaded(
    app, workers, page, project_with, root
):
    from playwright.sync_api import expect

    workers.start(1)
    rel = project_with("show/seq010", ["wide24.mp4", "wide30.mp4", "long24.mp4"])
    _open(page, app.url)
    _fill(page, rel, ["shots/wide24.mp4", "shots/wide30.mp4", "shots/long24.mp4"], SMALL)
    expect(page.locator("#submit-note")).to_contain_text("Queued asm-")
    row = page.locator("tr.job", has_text="seq010")
    job_id = row.get_attribute("data-id")
    expect(row.locator(".bar")).to_have_attribute("aria-valuenow", "100", timeout=120_000)
    expect(row.locator(".badge")).to_have_text("Finished")
    expect(row.locator(".stage")).to_have_text("done")
    bars = page.evaluate("window.__bars")[job_id]
    assert bars == sorted(bars) and bars[-1] == 100
    assert any(0 < value < 100 for value in bars), f"the bar never moved live: {bars}"

    download = row.locator("a.download")
    expect(download).to_be_visible()
    expect(row.locator("a.act", has_text="Open")).to_be_visible()
    response = page.request.get(download.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "video/mp4"
    assert response.body() == (root / rel / "exports" / "seq010.mp4").read_bytes()


def test_a_long_job_is_canceled_with_its_button(app, workers, page, long_project):
    from playwright.sync_api import expect

    workers.start(1)
    rel, shots = long_project("seq020")
    _open(page, app.url)
    _fill(page, rel, shots, LONG_OUTPUT)
    row = page.locator("tr.job", has_text="seq020")
    expect(row.locator(".stage")).to_have_text("render", timeout=60_000)
    expect(row.locator(".badge")).to_have_text("Running")
    button = row.locator("button.cancel")
    button.click()
    expect(button).to_have_text("Confirm")  # a second click confirms; no modal dialog
    button.click()
    expect(row.locator(".badge")).to_have_text("Canceled", timeout=30_000)
    expect(row.locator("button.cancel")).to_have_count(0)
    error = page.locator(f"tr.job-error:below(tr.job[data-id='{row.get_attribute('data-id')}'])")
    expect(error.first).to_contain_text("Canceled: canceled while running")
    assert app.job(row.get_attribute("data-id"))["state"] == "canceled"


def test_validation_problems_show_in_the_form_and_nothing_is_queued(app, page, project_with):
    from playwright.sync_api import expect

    rel = project_with("seq030", ["wide24.mp4"])
    _open(page, app.url)
    _fill(page, rel, ["shots/wide24.mp4", "shots/gone.mp4", "../secret.mp4"], SMALL)
    problems = page.locator("#problems")
    expect(problems).to_be_visible()
    expect(problems).to_contain_text("2 problems — nothing was queued")
    expect(problems).to_contain_text("Shot 2 (shots/gone.mp4): file not found")
    expect(problems).to_contain_text("Shot 3 (../secret.mp4):")
    expect(page.locator("tr.job")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()


def test_the_dashboard_with_jobs_in_every_state(
    app, workers, watcher, page, project_with, long_project, root, conn, service_settings, tmp_path
):
    """Also the layout at a desk and on a phone, and the screenshots of the list."""
    from playwright.sync_api import expect

    workers.start(2)
    watcher()
    api = app.http
    small = [
        project_with(n, ["wide24.mp4", "wide30.mp4", "portrait25.mp4"])
        for n in ("doc/ep03", "trailer/v12")
    ]
    for rel in small:
        shots = ["shots/wide24.mp4", "shots/portrait25.mp4", "shots/wide30.mp4"]
        assert app.submit(rel, shots, output=SMALL).status_code == 202
    # A request whose shot vanished before a worker got to it (the daemon's intake
    # does not probe shots; the worker does, and fails the job in plain words).
    failing = root / project_with("show/sq020", ["wide24.mp4"])
    (failing / "assembly.json").write_text(
        json.dumps({"shots": ["shots/wide24.mp4", "shots/sh040_v2.mov"], "output": SMALL})
    )
    admit(conn, service_settings, failing / "assembly.json")
    wait_for(
        lambda: (
            {v["state"] for v in api.get("/api/v1/assembly/jobs").json()["jobs"]}
            == {"finished", "failed"}
        ),
        120,
        "the small jobs to end",
    )
    canceled = app.submit(*long_project("show/sq010/sh010"), output=LONG_OUTPUT).json()["id"]
    wait_for(lambda: app.job(canceled)["state"] == "running", 60, "the job to start")
    api.delete(f"/api/v1/assembly/jobs/{canceled}")
    wait_for(lambda: app.job(canceled)["state"] == "canceled", 30, "the cancel")
    running = [
        app.submit(*long_project(n), output=LONG_OUTPUT).json()["id"]
        for n in ("show/sq010", "commercial/spot30")
    ]
    # Queued behind the renders' work (with fan-out, behind their part jobs too).
    wait_for(lambda: all(app.job(i)["stage"] == "render" for i in running), 60, "renders")
    for n in ("doc/ep04", "trailer/v13"):
        app.submit(project_with(n, ["wide24.mp4"]), ["shots/wide24.mp4"], output=SMALL)

    _open(page, app.url)
    page.fill("#f-project", "doc/ep04")
    page.fill("#f-shots", "shots/ep04_010.mov\nshots/ep04_020.mov 2.0 6.5\nshots/ep04_030.mov")
    for job_id in running:
        bar = page.locator(f"tr.job[data-id='{job_id}'] .bar")
        wait_for(lambda b=bar: float(b.get_attribute("aria-valuenow")) > 25, 120, "renders")
    for state, count in [
        ("Finished", 2),
        ("Failed", 1),
        ("Canceled", 1),
        ("Running", 2),
        ("Queued", 2),
    ]:
        expect(page.locator(".badge", has_text=state)).to_have_count(count)
    expect(page.locator("tr.job-error", has_text="shots/sh040_v2.mov")).to_contain_text(
        "file not found"
    )
    # Every state on screen: the layout at both sizes, and the documentation's pictures.
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        assert_laid_out(page, size, LIST_ROWS)
        posters = page.locator("tr.job[data-state=finished] img.poster")
        expect(posters).to_have_count(2)
        for i in range(2):
            expect(posters.nth(i)).to_be_visible()
            assert posters.nth(i).evaluate("img => img.complete && img.naturalWidth") > 0
        name = "dashboard.png" if size == "desktop" else "dashboard-phone.png"
        save_screenshot(page, tmp_path, name, full_page=False)
    for job_id in running:  # let the workers stop quickly
        api.delete(f"/api/v1/assembly/jobs/{job_id}")


def test_signing_in_with_the_token_opens_the_live_dashboard(start_app, page):
    from playwright.sync_api import expect

    app = start_app(api_token="studio-token-42")
    page.goto(app.url + "/")
    expect(page.locator("form.login-box")).to_be_visible()  # 401: the sign-in form
    page.fill("#token", "studio-token-42")
    page.click("button[type=submit]")
    # The cookie carries the token from here on, the WebSocket's handshake included.
    expect(page.locator("#live")).to_have_text("live")
    assert page.url == app.url + "/"  # the token is gone from the address bar
    expect(page.locator("#empty")).to_be_visible()


def test_older_jobs_come_a_page_at_a_time(app, page, conn, service_settings):
    """The live table is the newest page; older jobs follow the list API's cursor."""
    from playwright.sync_api import expect

    from tests.seed import seed_ended_jobs

    ids = seed_ended_jobs(conn, service_settings, 130)
    _open(page, app.url)
    rows = page.locator("tr.job")
    expect(rows).to_have_count(100)
    assert rows.first.get_attribute("data-id") == ids[-1]  # newest first
    older = page.locator("#older")
    expect(older).to_be_visible()
    older.click()
    expect(rows).to_have_count(130)
    assert rows.last.get_attribute("data-id") == ids[0]
    expect(older).to_be_hidden()  # that was the last page
