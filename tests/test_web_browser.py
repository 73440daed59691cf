"""synbiolab serve in a real browser: Playwright driving Debian's chromium on the loopback interface.

The tests draw a digit with mouse moves, paste a promoter, watch a curve grow while a real training run
writes its folder, and check that the page asks no host but the server. Screenshots are saved under
runs/web-screenshots/ (ignored by git) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from test_web_support import HAS_PROMOTERS, build_runs, live_server

CHROMIUM = os.environ.get("SYNBIOLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "runs" / "web-screenshots"
ECOLI_PROMOTER = "tactagcaatacgcttgcgttcggtggttaagtatgtataatgcgcgggcttgtcgt"

if not Path(CHROMIUM).is_file():
    if os.environ.get("CI"):
        raise RuntimeError(f"chromium is missing ({CHROMIUM}); `make test` installs it with apt-get")
    pytest.skip(f"chromium is not installed at {CHROMIUM} (make test installs it)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the web extra)")


@pytest.fixture(scope="module")
def site():
    runs = build_runs()
    with live_server(runs["root"], poll_seconds=0.2) as base:
        yield {**runs, "base": base}


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, site):
    """A page whose every request is recorded; requests to any other host are aborted and recorded too."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requested = []

    def route(request_route):
        requested.append(request_route.request.url)
        host = urlparse(request_route.request.url).netloc
        if request_route.request.url.startswith(("data:", "blob:")) or host == urlparse(site["base"]).netloc:
            request_route.continue_()
        else:
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.requested = requested
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()
    assert errors == [], f"the page raised: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_digit_drawn_with_the_mouse_gets_its_probabilities(page, site):
    import math

    page.goto(f"{site['base']}/#/draw?run={site['ids']['digits-cnn']}")
    pad = page.locator("#pad")
    pad.wait_for()
    box = pad.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy - 100)
    page.mouse.down()
    for step in range(1, 41):  # an upright ellipse: a zero
        angle = 2 * math.pi * step / 40
        page.mouse.move(cx + 60 * math.sin(angle), cy - 100 * math.cos(angle))
    page.mouse.up()
    result = page.locator("#draw-result")
    deadline = time.monotonic() + 15
    while result.get_attribute("data-version") != pad.get_attribute("data-version"):  # the answer to the whole drawing
        assert time.monotonic() < deadline, "no answer to the finished drawing"
        time.sleep(0.05)
    top = page.locator("#top-class")
    assert top.inner_text() == "0"
    bars = page.locator("#probabilities .bar")
    shown = [float(bars.nth(i).get_attribute("data-p")) for i in range(10)]
    assert max(shown) == shown[0] and abs(sum(shown) - 1) < 0.01
    assert page.locator("#feature-maps canvas").count() == 16  # the first layer's maps
    # What the page showed is what the API answers for the very picture on the canvas.
    png = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    import base64

    import httpx

    answer = httpx.post(f"{site['base']}/api/runs/{site['ids']['digits-cnn']}/predict",
                        content=base64.b64decode(png.split(",", 1)[1]), headers={"content-type": "image/png"}).json()
    assert answer["top"]["class"] == "0" and abs(answer["probabilities"][0] - shown[0]) < 1e-3
    shot(page, "draw")


@pytest.mark.skipif(not HAS_PROMOTERS, reason="uci_promoters is not in SYNBIOLAB_DATA")
def test_a_pasted_sequence_gets_predictions_and_a_mutagenesis_map(page, site):
    page.goto(f"{site['base']}/#/sequence?run={site['ids']['promoters-cnn1d']}")
    page.locator("#sequences").fill(f">promoter\n{ECOLI_PROMOTER}\n>another\n{ECOLI_PROMOTER[::-1]}\n")
    page.locator("#predict").click()
    page.locator("#ism-heatmap").wait_for(timeout=10000)
    assert page.locator("#prediction-table tr").count() == 3  # header and two sequences
    heatmap = page.locator("#ism-heatmap")
    assert (heatmap.get_attribute("data-rows"), heatmap.get_attribute("data-columns")) == ("4", "57")
    assert page.locator("#ism-heatmap rect.ism-cell").count() == 4 * 57
    assert page.locator("#ism-heatmap text", has_text="-10 box").count() == 1
    assert page.locator("#ism-logo text").count() > 20
    at = ECOLI_PROMOTER.upper().find("TATAAT")
    page.locator(f"#editable span[data-position='{at}']").click()  # T -> A: the -10 box loses its first letter
    result = page.locator("#edit-result")
    result.wait_for(timeout=10000)
    assert f"position {at + 1} changed" in result.inner_text()
    assert page.locator("#editable span.edited").inner_text() == "A"
    shot(page, "sequence")


def test_a_curve_grows_while_a_training_run_writes_its_folder(page, site, tmp_path):
    from synbiolab.web.index import run_id

    out = site["root"] / "live-mlp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "synbiolab", "train", "--data", "digits", "--model", "mlp",
                                "--epochs", "12", "--set", "model.hidden_units=[512,512]", "--out", str(out),
                                "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out / "history.csv").is_file():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the training run wrote no history"
            time.sleep(0.05)
        page.goto(f"{site['base']}/#/run/{run_id('live-mlp')}")
        chart = page.locator("[data-chart=val_error]")
        chart.wait_for(timeout=20000)
        seen = []
        while time.monotonic() < deadline:
            points = int(chart.get_attribute("data-points") or 0)
            if not seen or points != seen[-1]:
                seen.append(points)
            if page.locator("#live-status").inner_text() == "finished":
                break
            time.sleep(0.1)
        assert process.wait(timeout=60) == 0
        final = int(chart.get_attribute("data-points"))
    finally:
        if process.poll() is None:
            process.kill()
    assert final == 12 and seen == sorted(seen) and len(seen) >= 3, seen  # it grew in steps, while training ran
    page.locator("#metrics").wait_for(timeout=10000)
    shot(page, "live-run")


def test_every_view_asks_only_the_server(page, site):
    base = site["base"]
    views = ["/#/runs", f"/#/run/{site['ids']['digits-cnn']}", f"/#/draw?run={site['ids']['digits-cnn']}",
             f"/#/gan?run={site['ids']['digits-gan']}&digit=3&n=20", f"/#/run/{site['ids']['sweep-lr']}",
             f"/#/run/{site['ids']['with-predictions']}", f"/#/runs?group=1&sel={site['ids']['seeds/mlp-seed0']},"
             f"{site['ids']['seeds/mlp-lr01']}", "/docs"]
    if HAS_PROMOTERS:
        views.append(f"/#/gan?run={site['ids']['promoter-gan']}&n=50")
    for view in views:
        page.goto(base + view)
        page.wait_for_load_state("networkidle")
        name = "view-" + (view.strip("/#").split("?")[0].replace("/", "-") or "root")
        if view.startswith("/#/run/"):
            page.locator("#view h1").wait_for(timeout=10000)
            page.locator("#below, #folder-table, .error").first.wait_for(timeout=10000)
        if view.startswith("/#/gan"):
            page.locator("#gan-result h2").first.wait_for(timeout=10000)
            name += "-" + ("digits" if "digit=" in view else "promoters")
        if "sel=" in view:
            page.locator("#config-diff").wait_for(timeout=10000)
            name = "runs-overlay"
        if view == "/docs":
            page.locator(".swagger-ui .opblock").first.wait_for(timeout=15000)
        shot(page, name)
    hosts = {urlparse(url).netloc for url in page.requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {urlparse(base).netloc}, hosts


def test_the_table_groups_seeds_and_the_gan_draws_the_digit_asked(page, site):
    page.goto(f"{site['base']}/#/runs?group=1&q=seeds")
    page.locator("#runs-table tbody tr").first.wait_for()
    rows = page.locator("#runs-table tbody tr")
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    grouped = next(t for t in texts if "(2 seeds)" in t)
    assert "0.9200 ± 0.0283" in grouped  # test accuracy 0.90 and 0.94: mean and standard deviation
    assert len(texts) == 2  # the two seeds as one row, the other learning rate alone
    page.goto(f"{site['base']}/#/gan?run={site['ids']['digits-gan']}&digit=3&n=12")
    samples = page.locator("#samples canvas")
    samples.first.wait_for(timeout=10000)
    assert samples.count() == 12 and {samples.nth(i).get_attribute("title") for i in range(12)} == {"class 3"}
