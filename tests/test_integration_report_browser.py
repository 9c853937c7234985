"""The HTML report in a real browser: headless Chromium renders it, every plot loads, nothing is fetched.

Chromium comes from the system (the Makefile's test set-up installs Debian's ``chromium``); without
it the test is skipped. A copy of the report gets a small script that, once the page has loaded,
writes what it found (images, broken ones, tables, resources fetched) into the title, which
``--dump-dom`` then shows.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from seedlock.repeat.report import render_html
from seedlock.repeat.store import Store

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no /usr/bin/chromium: `make test` installs Debian's chromium"
)
NAMES = ("baseline", "wider <b>net</b>")  # a name with markup: it must show as text

PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0 || !i.src.startsWith("data:image/png"));
  const fetched = performance.getEntriesByType("resource").filter(r => !r.name.startsWith("data:"));
  document.title = `PROBE images=${images.length} broken=${broken.length} tables=${document.querySelectorAll("table").length}`
    + ` fetched=${fetched.length} width=${document.documentElement.scrollWidth} viewport=${window.innerWidth}`;
});
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,2000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    with Store(tmp_path / "seedlock.db") as store:
        for shift, name in enumerate(NAMES):
            exp = store.experiment(name, script="train.py", args=["--width", str(64 * (shift + 1))])
            for seed in range(6):
                if shift and seed == 5:
                    store.finish_trial(
                        exp, seed, "failed", exit_code=1, reason="exit code 1", stderr_tail="boom"
                    )
                    continue
                curve = [("loss", step, 1 / (step + 1) + seed / 50 - shift / 30) for step in range(8)]
                store.finish_trial(
                    exp,
                    seed,
                    "ok",
                    exit_code=0,
                    fingerprint=f"{seed:032x}",
                    manifest={"seed": seed},
                    metrics=[*curve, ("val_acc", None, 0.9 + shift / 50 + (seed % 3) / 100)],
                )
        return render_html(store, list(NAMES), tmp_path / "report.html", n_boot=500)


@pytest.mark.slow
def test_report_renders_with_every_plot_and_table(report: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(
        report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    dom = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    title = re.search(r"<title>(PROBE [^<]*)</title>", dom.stdout)
    assert title, dom.stdout[:500]
    found = dict(pair.split("=") for pair in title.group(1).split()[1:])
    # loss: strip, histogram, curves; val_acc (no steps): strip, histogram. Tables: 1 comparison + 2 x (summary, trials)
    assert (
        found["images"] == "5"
        and found["broken"] == "0"
        and found["tables"] == "5"
        and found["fetched"] == "0"
    )
    assert int(found["width"]) <= int(found["viewport"]), "the page scrolls sideways at 1280 px"
    assert "&lt;b&gt;net&lt;/b&gt;" in dom.stdout and "<b>net</b>" not in dom.stdout  # escaped, shown as text

    shot = tmp_path / "report.png"
    result = chromium(tmp_path, f"--screenshot={shot}", report.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    assert struct.unpack(">II", data[16:24]) == (1280, 2000)  # IHDR: width, height
    from PIL import Image

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 500  # text, tables and plots, not a blank page
