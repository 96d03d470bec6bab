"""report.html opened in a headless browser (Debian's chromium): it loads as one file, every
figure decodes, every generated clip plays (its metadata loads), every table-of-contents link
has its target, and nothing outside the page is fetched (issue 27). The page is built from
hand-made fits and records (no R). CI (REQUIRE_FIXTURES=1) fails without chromium; setup.sh
installs it."""

import json
import re
import subprocess

import matplotlib
import numpy as np
import pandas as pd

from analysis.report import write_report
from conftest import require_tool
from test_report import _inputs
from test_report_design import _chain

# Appended to a copy of the page: reports what loaded, into the DOM chromium dumps.
PROBE = """<script>
window.addEventListener('load', async () => {
  const images = [...document.images].map(i => i.complete && i.naturalWidth > 0);
  const audio = await Promise.all([...document.querySelectorAll('audio')].map(a =>
    new Promise(done => {
      a.addEventListener('loadedmetadata', () => done(a.duration), {once: true});
      a.addEventListener('error', () => done(-1), {once: true});
      a.preload = 'metadata'; a.load();
    })));
  const links = [...document.querySelectorAll('nav a')].map(
    a => document.getElementById(a.getAttribute('href').slice(1)) !== null);
  const fetched = performance.getEntriesByType('resource').map(r => r.name);
  // what the page would load from outside itself (file:// loads leave no resource entry)
  const external = [...document.querySelectorAll('[src], [href], link')]
    .map(e => e.getAttribute('src') || e.getAttribute('href') || '')
    .filter(u => !u.startsWith('data:') && !u.startsWith('#'));
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({images, audio, links, fetched, external,
                                    h1: document.querySelector('h1').textContent});
  document.body.appendChild(out);
});
</script>"""


def _browser_view(chromium: str, page, folder) -> dict:
    probe = folder / "probe.html"
    probe.write_text(page.replace("</body></html>", PROBE + "</body></html>"),
                     encoding="utf-8")
    res = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-dev-shm-usage", "--virtual-time-budget=20000",
                          "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, res.stdout[-2000:]
    import html
    return json.loads(html.unescape(found.group(1)))


def test_report_html_opens_in_a_headless_browser(tmp_path):
    chromium = require_tool("chromium", "apt-get install -y chromium (setup.sh installs it)")
    acts = _chain(tmp_path)
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    import matplotlib.pyplot as plt
    matplotlib.use("Agg")
    for name in ("fig3_word_curves", "fig5_difference"):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.plot([0, 1], [0, 1])
        fig.savefig(out / "figures" / f"{name}.png")
        plt.close(fig)
    gen = tmp_path / "generated"
    gen.mkdir()
    import soundfile as sf
    rows = []
    for k, word in enumerate(["ask", "dark"]):
        name = f"code_{k}_{word}_z000.wav"
        sf.write(gen / name, 0.1 * np.sin(np.arange(8000) / 5.0), 16000, subtype="PCM_16")
        rows.append({"file": name, "code": f"code_{k}", "noise_index": 0,
                     "q_code": f"code_{k}", "q_agrees": True, "word": word})
    pd.DataFrame(rows).to_csv(gen / "generated.csv", index=False)
    paths = write_report(str(out), _inputs(acts, generated=str(gen), figures={
        "fig3": "figures/fig3_word_curves.png", "fig5": "figures/fig5_difference.png"}))
    page = open(paths["html"], encoding="utf-8").read()
    view = _browser_view(chromium, page, tmp_path)
    assert view["h1"] == "GAMM analysis of Q-network activations"
    assert view["images"] == [True, True]
    assert view["audio"] == [0.5, 0.5]  # both clips load: 8000 samples at 16 kHz
    assert view["links"] and all(view["links"])
    # self-contained: nothing fetched, nothing that would be
    assert view["fetched"] == [] and view["external"] == []
