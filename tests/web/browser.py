"""Real Chromium for the web tests, and checks of a page as laid out.

Debian's Chromium, headless, driven by Playwright; Playwright's own browser
downloads are never used. tests/web/conftest.py's ``browser`` fixture starts it:
skipped (saying why) without Playwright or /usr/bin/chromium; failed instead when
ASSEMBLYD_REQUIRE_BROWSER=1, as CI sets it.

The checks read the page the way a person meets it: what sticks out of the
viewport, what overlaps, what a finger cannot hit, what text is too faint.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
#: The smallest hit area of a control, CSS px: 44 on a phone (Apple's and WCAG's
#: AAA size for touch), 24 with a mouse (WCAG 2.2 AA).
MIN_TARGET = {"phone": 44, "desktop": 24}
AA_CONTRAST = 4.5
CONTROLS = "a[href], button, input, select, textarea, [role=tab]"


def missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """The browser, for a module's tests (tests/web/conftest.py's ``browser``)."""
    reason = missing()
    if reason:
        if os.environ.get("ASSEMBLYD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and ASSEMBLYD_REQUIRE_BROWSER=1 requires the browser tests")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(
    browser: Any, viewport: dict[str, int], init_script: str = ""
) -> tuple[Any, Any, list[str]]:
    """A fresh context and page, and the list of the page's uncaught errors and
    console errors (but failed resource loads: a refused request is an answer)."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda m: (
            m.type == "error" and "Failed to load resource" not in m.text and errors.append(m.text)
        ),
    )
    if init_script:
        page.add_init_script(init_script)
    return context, page, errors


def save_screenshot(page: Any, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    """A screenshot in ``tmp_path``, copied to ``$ASSEMBLYD_SCREENSHOTS/<name>`` when
    that is set (``ASSEMBLYD_SCREENSHOTS=docs`` makes the documentation's). Animations
    are stopped: progress bars at their real width, no sheen mid-sweep."""
    shot = tmp_path / name
    page.evaluate("window.scrollTo(0, 0)")  # the checks scroll to each control
    page.mouse.move(0, 0)  # and leave the pointer over the last one
    page.screenshot(path=str(shot), animations="disabled", full_page=full_page)
    assert shot.stat().st_size > 10_000, f"{name} looks empty"
    if target := os.environ.get("ASSEMBLYD_SCREENSHOTS"):
        shutil.copyfile(shot, Path(target) / name)
    return shot


# ---------------------------------------------------------------- layout

_DESCRIBE = """
const describe = (el) => {
  const r = el.getBoundingClientRect();
  const id = el.id ? "#" + el.id : "";
  const names = typeof el.className === "string" ? el.className.trim().split(/\\s+/) : [];
  const cls = names.filter(Boolean).map((c) => "." + c).join("");
  const text = (el.innerText || el.value || el.getAttribute("aria-label") || "")
    .trim().slice(0, 30);
  const at = [r.left, r.top, r.width, r.height].map(Math.round);
  return `${el.tagName.toLowerCase()}${id}${cls} "${text}" [${at[0]},${at[1]} ${at[2]}x${at[3]}]`;
};
const shown = (el) => {
  if (el.closest("[hidden], .sr, template")) return false;
  const s = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  return s.display !== "none" && s.visibility !== "hidden" && r.width > 0 && r.height > 0;
};
"""

_OVERFLOW = (
    _DESCRIBE
    + """
() => {
  const outside = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.right > innerWidth + 0.5) outside.push(describe(el));
  }
  return { scrollWidth: document.documentElement.scrollWidth, innerWidth, outside };
}
"""
)

_OVERLAPS = (
    _DESCRIBE
    + """
(selectors) => {
  const found = [];
  const boxes = (parent) => [...parent.children].filter(shown).flatMap((c) =>
    getComputedStyle(c).display === "contents" ? boxes(c) : [c]);
  for (const sel of selectors) {
    for (const parent of document.querySelectorAll(sel)) {
      if (!shown(parent)) continue;
      const p = parent.getBoundingClientRect();
      const kids = boxes(parent);
      for (const [i, a] of kids.entries()) {
        const ra = a.getBoundingClientRect();
        // Clipped or spilling content: what the cell holds is wider than the cell.
        if (a.scrollWidth > a.clientWidth + 1 && getComputedStyle(a).overflowX === "visible")
          found.push(`${describe(a)} holds ${a.scrollWidth}px in ${a.clientWidth}px`);
        if (ra.left < p.left - 0.5 || ra.right > p.right + 0.5)
          found.push(`${describe(a)} sticks out of ${describe(parent)}`);
        for (const b of kids.slice(i + 1)) {
          const rb = b.getBoundingClientRect();
          const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
          const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
          if (w > 0.5 && h > 0.5) found.push(`${describe(a)} overlaps ${describe(b)}`);
        }
      }
    }
  }
  return found;
}
"""
)

_TARGETS = (
    _DESCRIBE
    + """
([selector, min]) => {
  const found = [], checked = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!shown(el) || el.disabled) continue;
    el.scrollIntoView({ block: "center", inline: "center" });
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    checked.push(describe(el));
    if (!hit || !(el === hit || el.contains(hit)))
      found.push(`${describe(el)} is covered by ${hit ? describe(hit) : "nothing"}`);
    if (r.width < min - 0.01 || r.height < min - 0.01)
      found.push(`${describe(el)} is smaller than ${min}x${min}`);
  }
  window.scrollTo(0, 0);
  return { found, checked };
}
"""
)

_CONTRAST = (
    _DESCRIBE
    + """
() => {
  const rgba = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const [r, g, b, a] = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [r, g, b, a === undefined ? 1 : a];
  };
  const over = (top, below) => { // alpha compositing of an rgba colour over an opaque one
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat(1);
  };
  const background = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let colour = [255, 255, 255, 1]; // the canvas, if nothing is opaque
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const opacity = (el) => {
    let o = 1;
    for (let n = el; n; n = n.parentElement) o *= Number(getComputedStyle(n).opacity);
    return o;
  };
  const luminance = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (fg, bg) => {
    const [a, b] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
  };
  const found = [];
  const measure = (el, colour, what) => {
    const bg = background(el);
    const c = rgba(colour);
    const fg = over([c[0], c[1], c[2], c[3] * opacity(el)], bg);
    found.push({ el: describe(el), what, ratio: Math.round(ratio(fg, bg) * 100) / 100,
      fg: colour, classes: String(el.className || "") });
  };
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el) || el.disabled) continue;
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (text) measure(el, getComputedStyle(el).color, "text");
    if ((el.tagName === "INPUT" || el.tagName === "TEXTAREA") && el.placeholder && !el.value)
      measure(el, getComputedStyle(el, "::placeholder").color, "placeholder");
  }
  return found;
}
"""
)


def overflow(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(_OVERFLOW)
    return result


def assert_no_overflow(page: Any) -> None:
    found = overflow(page)
    assert found["scrollWidth"] <= found["innerWidth"], found
    assert found["outside"] == [], found["outside"]


def assert_no_overlaps(page: Any, selectors: list[str]) -> None:
    found = page.evaluate(_OVERLAPS, selectors)
    assert found == [], found


def assert_tappable(page: Any, size: str, selector: str = CONTROLS) -> list[str]:
    """Every shown, enabled control: at least MIN_TARGET[size] square, and the one
    a tap at its centre lands on; Playwright's trial click agrees (visible, stable,
    enabled, receiving events). Returns what was checked."""
    found = page.evaluate(_TARGETS, [selector, MIN_TARGET[size]])
    assert found["found"] == [], found["found"]
    controls = page.locator(selector)
    for i in range(controls.count()):
        control = controls.nth(i)
        if control.is_visible() and control.is_enabled():
            control.click(trial=True, timeout=5_000)
    checked: list[str] = found["checked"]
    return checked


def contrast(page: Any) -> list[dict[str, Any]]:
    """Every piece of text shown (and every placeholder), with its contrast ratio
    against what is behind it, from the computed styles."""
    measured: list[dict[str, Any]] = page.evaluate(_CONTRAST)
    return measured


def assert_readable(page: Any) -> list[dict[str, Any]]:
    measured = contrast(page)
    assert measured, "no text measured"
    low = [m for m in measured if m["ratio"] < AA_CONTRAST]
    assert low == [], low
    return measured


def assert_laid_out(page: Any, size: str, rows: list[str]) -> list[str]:
    """The whole set: no horizontal overflow, no overlaps in ``rows``, every control
    tappable, all text readable."""
    assert_no_overflow(page)
    assert_no_overlaps(page, rows)
    checked = assert_tappable(page, size)
    assert_readable(page)
    return checked
