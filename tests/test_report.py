"""`snakemake --report` on the tiny run, rendered in one real headless Chromium (Debian `chromium`) launch.

The report is a single-page app; a small script appended to a copy of it does what a reader's clicks
would (open a category, a result's caption, each figure), records what the page shows after each step,
and Chromium dumps the final DOM with those records (launched again, at most twice, when it dumped
before the driver finished). Skips when chromium is absent, except in CI
(CI=true), where it fails.
"""

import base64
import html as html_lib
import io
import json
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
                  "--virtual-time-budget=20000", "--dump-dom"]
DATASET = TINY_CONFIG["dataset"]["name"]
ARCHS = list(TINY_CONFIG["architectures"])

# Steps run one after another, 500 ms apart; each records the body's visible text or, for a figure,
# the shown image's source. The image is decoded here, not in the page: Chromium's virtual time runs
# out while an asynchronous img.decode() is pending, so the page never finished when it decoded.
DRIVER = """
const key = name => Object.keys(results).find(k => k.endsWith('/' + name));
const text = () => document.body.innerText;
async function figure(name) {
  const k = key(name);
  app.setView({content: 'img', contentPath: results[k].data_uri, resultPath: k});
  await new Promise(done => setTimeout(done, 500));
  const img = [...document.images].find(i => i.src.includes('filename=' + name + ';'));
  return {src: img ? img.src : null};
}
async function drive() {
  const seen = {};
  const pause = () => new Promise(done => setTimeout(done, 500));
  app.showCategory('Paper tables'); await pause(); seen.listing = text();
  app.showResultInfo(key('table5.html')); await pause(); seen.info = text();
  seen.figures = {};
  for (const arch of ARCHS) seen.figures[arch] = await figure('accuracy_vs_layers_' + arch + '.png');
  const out = document.createElement('pre'); out.id = 'astrotune-seen'; out.textContent = JSON.stringify(seen);
  document.body.appendChild(out);
}
window.addEventListener('load', () => setTimeout(() => drive().catch(err => {
  const out = document.createElement('pre'); out.id = 'astrotune-seen';
  out.textContent = JSON.stringify({error: String(err)}); document.body.appendChild(out);
}), 300));
"""


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


@pytest.fixture(scope="module")
def seen(report, tmp_path_factory):
    """What the report showed after each step of DRIVER, from one Chromium launch."""
    page = tmp_path_factory.mktemp("report") / "driven.html"
    html = report.read_text()
    at = html.rindex("</body>")
    driver = DRIVER.replace("ARCHS", json.dumps(ARCHS))
    page.write_text(html[:at] + f"<script>{driver}</script>" + html[at:])
    for _ in range(3):  # headless Chromium sometimes dumps the DOM before virtual time reaches the driver's end
        with tempfile.TemporaryDirectory() as profile:
            result = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", page.as_uri()],
                                    capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        found = re.search(r'<pre id="astrotune-seen">(.*?)</pre>', result.stdout, re.S)
        if found:
            break
    assert found, "the driver did not finish: " + result.stdout[-2000:]
    records = json.loads(html_lib.unescape(found.group(1)))
    assert "error" not in records, records
    return records


def test_report_is_self_contained(report):
    html = report.read_text()
    assert not re.search(r"""<(script|img|link|iframe)[^>]+(src|href)=["']https?://""", html)


def test_table5_is_in_the_paper_tables_with_its_caption(seen):
    assert f"results/{DATASET}/tables/table5.html" in seen["listing"]
    caption = (PROJECT_ROOT / "workflow" / "report" / "table5.rst").read_text().split(":")[0]
    assert " ".join(caption.split()) in " ".join(seen["info"].split())


@pytest.mark.parametrize("arch", ARCHS)
def test_accuracy_figure_renders(seen, arch):
    src = seen["figures"][arch]["src"]
    assert src and src.startswith("data:image/png;"), src
    assert f"filename=accuracy_vs_layers_{arch}.png" in src.split(",")[0]
    shown = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")
    assert len(shown.getcolors(maxcolors=1 << 24)) > 50, "figure is (nearly) blank"
