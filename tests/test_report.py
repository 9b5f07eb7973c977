"""`snakemake --report` on the tiny run, rendered in a real headless Chromium (Debian `chromium`).

The report is a single-page app; a small script appended to a copy of it does what a reader's clicks
would (open a category, a result, a figure) and Chromium dumps the rendered DOM or a screenshot.
Skips when chromium is absent, except in CI (CI=true), where it fails.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest
from PIL import Image

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, run_snakemake

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=10000"]
DATASET = TINY_CONFIG["dataset"]["name"]


@pytest.fixture(scope="module")
def report(tiny_run):
    """report.html of the tiny run."""
    if CHROMIUM is None:
        reason = "Debian chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    run_snakemake(tiny_run, "--report", "report.html")
    return tiny_run / "report.html"


def chromium(report, action, tmp_path, *mode):
    """Open a copy of ``report`` that runs the JavaScript ``action`` once loaded; returns Chromium's stdout."""
    page = tmp_path / f"driven_{len(list(tmp_path.glob('driven_*')))}.html"
    html = report.read_text()
    driver = f"<script>window.addEventListener('load', () => setTimeout(() => {{ {action} }}, 300));</script>"
    at = html.rindex("</body>")
    page.write_text(html[:at] + driver + html[at:])
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *mode, page.as_uri()],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def rendered_text(dom):
    """The visible text of a dumped DOM's body."""
    body = re.sub(r"<script.*?</script>", " ", dom[dom.index("<body"):], flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def result_key(name):
    """JavaScript: the report's key for the result file ending in ``name``."""
    return f"Object.keys(results).find(k => k.endsWith('/{name}'))"


def test_report_is_self_contained(report):
    html = report.read_text()
    assert not re.search(r"""<(script|img|link|iframe)[^>]+(src|href)=["']https?://""", html)


def test_table5_is_in_the_paper_tables_with_its_caption(report, tmp_path):
    listing = rendered_text(chromium(report, "app.showCategory('Paper tables');", tmp_path, "--dump-dom"))
    assert f"results/{DATASET}/tables/table5.html" in listing
    info = rendered_text(chromium(report, f"app.showResultInfo({result_key('table5.html')});", tmp_path,
                                  "--dump-dom"))
    caption = (PROJECT_ROOT / "workflow" / "report" / "table5.rst").read_text().split(":")[0]
    assert caption in info


@pytest.mark.parametrize("arch", list(TINY_CONFIG["architectures"]))
def test_accuracy_figure_renders(report, tmp_path, arch):
    show = (f"const key = {result_key(f'accuracy_vs_layers_{arch}.png')};"
            "app.setView({content: 'img', contentPath: results[key].data_uri, resultPath: key});")
    dom = chromium(report, show, tmp_path, "--dump-dom")
    assert re.search(rf'<img src="data:image/png;[^"]*filename=accuracy_vs_layers_{arch}\.png;base64,', dom)
    shot = tmp_path / "shot.png"
    chromium(report, show, tmp_path, "--window-size=1280,900", f"--screenshot={shot}")
    figure = Image.open(shot).convert("RGB").crop((300, 0, 1280, 900))
    assert len(figure.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50, "figure area is (nearly) blank"
