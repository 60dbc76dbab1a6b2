"""A job's own page in real Chromium (issue 14, items 6 and 7): from the job list to
the page of a job rendered by a real worker with two outputs, its thumbnails, its
outputs and their downloads, at a desk (1440x900) and on a phone (390x844); a
running job followed live and canceled from its page; signing in on a phone.

``ASSEMBLYD_SCREENSHOTS=docs`` also writes ``docs/job-page.png`` and
``docs/job-page-phone.png``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.browser import (
    DESKTOP,
    PHONE,
    assert_laid_out,
    contrast,
    open_page,
    save_screenshot,
)
from tests.web.conftest import LONG_OUTPUT

SIZES = {"desktop": DESKTOP, "phone": PHONE}
#: What lies side by side, and must not overlap.
LIST_ROWS = ["tr.job", ".p-link", ".bar-meta", ".topbar", ".toolbar"]
JOB_ROWS = [
    ".topbar",
    ".job-head",
    ".bar-meta",
    ".facts",
    ".output",
    ".output-body",
    ".output-actions",
    ".shots-head",
    ".shot",
    ".shot-nums",
]
#: Every picture on the page has arrived and decoded.
PICTURES_LOADED = """(selector) => {
  const images = [...document.querySelectorAll(selector)];
  return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
}"""
RECORD_BAR = """
window.__bar = [];
new MutationObserver(() => {
  const bar = document.querySelector("#j-bar");
  window.__bar.push(Number(bar.getAttribute("aria-valuenow")));
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["aria-valuenow"]});
"""


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_finished_job_from_the_list_to_its_page_and_downloads(
    app, deliver, browser, size, tmp_path
):
    from playwright.sync_api import expect

    done = deliver("show/seq050")
    context, page, errors = open_page(browser, SIZES[size])
    page.goto(app.url + "/")
    expect(page.locator("#live")).to_have_text("live")
    row = page.locator(f"tr.job[data-id='{done.job_id}']")
    poster = row.locator("img.poster")
    expect(poster).to_be_visible()  # shown once it has loaded
    assert poster.evaluate("img => img.naturalWidth") > 0
    assert_laid_out(page, size, LIST_ROWS)

    row.locator("a.p-link").click()
    page.wait_for_url(f"{app.url}/jobs/{done.job_id}")
    expect(page.locator("#j-state")).to_have_text("Finished")
    expect(page.locator("#j-name")).to_have_text("seq050")
    expect(page.locator("#j-pct")).to_have_text("100%")

    shots = page.locator("#shots li.shot")
    expect(shots).to_have_count(3)
    expect(shots.locator(".shot-path")).to_have_text(
        ["shots/wide24.mp4", "shots/portrait25.mp4", "shots/wide30.mp4"]
    )
    expect(shots.locator(".made")).to_have_text(["encoded"] * 3)
    expect(shots.locator(".shot-duration")).to_have_text(["1 s"] * 3)
    expect(shots.locator(".shot-at")).to_have_text(["0 s", "1 s", "2 s"])
    expect(shots.nth(1).locator(".shot-source")).to_have_text("90x160 · 25 fps · H264")
    expect(page.locator("#shots-note")).to_have_text("3 · 3 s · normalize · 3 encoded")
    page.wait_for_function(PICTURES_LOADED, arg=".shot-thumb img, .output-poster img")
    assert page.locator(".shot-thumb img:visible, .output-poster img:visible").count() == 5

    outputs = page.locator("article.output")
    expect(outputs.locator(".output-name")).to_have_text(["master", "review"])
    expect(outputs.locator(".output-file")).to_have_text(["seq050_master.mov", "seq050_review.mp4"])
    master, review = outputs.nth(0), outputs.nth(1)
    expect(master).to_contain_text("MOV · H264 · AAC")
    expect(master).to_contain_text("320x180 · 24 fps")
    expect(master).not_to_contain_text("LUFS")
    expect(review).to_contain_text("MP4 · H264 · AAC")
    expect(review).to_contain_text("“CONFIDENTIAL: ACME” (top center), frame (bottom right)")
    expect(review).to_contain_text("target -16")
    expect(review.locator(".facts")).to_contain_text("LUFS")
    for card, name in ((master, "seq050_master.mov"), (review, "seq050_review.mp4")):
        on_disk = (done.project / "exports" / name).read_bytes()
        size_text = f"{round(len(on_disk) / 1000)} KB"
        expect(card).to_contain_text(size_text)
        with page.expect_download() as download:
            card.locator("a.download").click()
        assert download.value.suggested_filename == name
        assert Path(download.value.path()).read_bytes() == on_disk
        sheet_link = card.locator("a", has_text="Contact sheet")
        sheet = page.request.get(sheet_link.evaluate("a => a.href"))
        assert sheet.status == 200 and sheet.headers["content-type"] == "image/jpeg"

    assert_laid_out(page, size, JOB_ROWS)
    secondary = [
        m for m in contrast(page) if "p-sub" in m["classes"] or "shot-source" in m["classes"]
    ]
    assert secondary and min(m["ratio"] for m in secondary) >= 4.5, secondary
    name = "job-page.png" if size == "desktop" else "job-page-phone.png"
    save_screenshot(page, tmp_path, name)
    context.close()
    assert errors == [], errors


def test_a_running_job_is_followed_live_on_its_page_and_canceled_there(
    app, workers, long_project, browser
):
    from playwright.sync_api import expect

    workers.start(1)
    rel, shots = long_project("show/seq051")
    job_id = app.submit(rel, shots, output=LONG_OUTPUT).json()["id"]
    context, page, errors = open_page(browser, PHONE, RECORD_BAR)
    page.goto(f"{app.url}/jobs/{job_id}")
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("#j-stage")).to_have_text("render", timeout=60_000)
    expect(page.locator("#j-state")).to_have_text("Running")
    # The planned cut shows while it renders: twenty shots, none made yet.
    expect(page.locator("#shots li.shot")).to_have_count(len(shots))
    expect(page.locator("#shots .made").first).to_have_text("planned")
    page.wait_for_function("() => window.__bar.some((v) => v > 0 && v < 100)", timeout=60_000)
    assert_laid_out(page, "phone", JOB_ROWS)

    # While it runs the bar only moves on (a canceled job then shows its last stored
    # percent, as in the list).
    bar = page.evaluate("window.__bar")
    assert bar == sorted(bar), f"the bar went back: {bar}"
    button = page.locator("#j-actions button.cancel")
    button.click()
    expect(button).to_have_text("Confirm")
    button.click()
    expect(page.locator("#j-state")).to_have_text("Canceled", timeout=30_000)
    expect(page.locator("#j-error")).to_contain_text("Canceled: canceled while running")
    expect(page.locator("#j-actions button")).to_have_count(0)
    expect(page.locator("#outputs-note")).to_have_text("Nothing was published.")
    assert app.job(job_id)["state"] == "canceled"
    context.close()
    assert errors == [], errors


def test_signing_in_on_a_phone_comes_back_to_the_job_page(start_app, browser):
    from playwright.sync_api import expect

    app = start_app(api_token="studio-token-42")
    address = f"{app.url}/jobs/asm-0123456789abcdef01234567"
    for size in ("desktop", "phone"):
        context, page, errors = open_page(browser, SIZES[size])
        page.goto(address)
        expect(page.locator("form.login-box")).to_be_visible()  # 401: the sign-in form
        assert_laid_out(page, size, [".login-box"])
        if size == "phone":
            page.fill("#token", "studio-token-42")
            page.click("button[type=submit]")
            expect(page.locator("#missing")).to_be_visible()
            expect(page.locator("#missing")).to_contain_text("There is no job asm-0123")
            assert page.url == address  # back on the page, the token gone from the address
            assert_laid_out(page, size, [".topbar"])
        context.close()
        assert errors == [], errors
