"""A real headless browser (the system's Chromium) for the HTML report tests; no JavaScript in the pages.

:func:`check_page` loads a page inside a small wrapper page (``--allow-file-access-from-files`` lets
the wrapper read the page's DOM) and reports every image that did not load, every local link whose
target cannot be read, and every console message the page logged. :func:`screenshot` renders a
page to PNG. Both skip the test cleanly where Chromium is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

WRAPPER = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="{src}" width="1280" height="900"></iframe>
<script>
const f = document.getElementById('f');
f.onload = () => {{
  const d = f.contentDocument, bad = [];
  if (!d) {{ document.getElementById('out').textContent = 'RESULT NO-ACCESS'; return; }}
  for (const img of d.images) {{
    if (!img.complete || img.naturalWidth === 0) bad.push('broken image: ' + (img.getAttribute('src') || '').slice(0, 80));
  }}
  for (const a of d.querySelectorAll('a[href]')) {{
    const href = a.getAttribute('href');
    if (/^(https?:|mailto:|#|data:)/.test(href)) continue;
    const url = new URL(href, d.baseURI).href;
    let ok = false;
    try {{ const x = new XMLHttpRequest(); x.open('GET', url, false); x.send(); ok = x.responseText.length > 0; }}
    catch (e) {{ ok = false; }}
    if (!ok) bad.push('broken link: ' + href);
  }}
  document.getElementById('out').textContent = 'RESULT ' + JSON.stringify({{images: d.images.length, bad: bad}});
}};
</script></body></html>
"""


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium) for the browser check")
    return exe


def _run(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


def check_page(page: Path, scratch: Path) -> dict:
    """``{"images": n, "bad": [...], "console": [...]}`` for one page as Chromium loads it."""
    import json

    page = Path(page).resolve()
    wrapper = Path(scratch) / f"wrap-{page.stem}.html"
    wrapper.write_text(WRAPPER.format(src=page.as_uri()), encoding="utf-8")
    res = _run(["--dump-dom", wrapper.as_uri()])
    m = re.search(r"RESULT (\{.*?\})</pre>", res.stdout, re.S)
    if m is None:
        raise AssertionError(f"the browser gave no result for {page}: {res.stdout[-500:]} {res.stderr[-1500:]}")
    out = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    out["console"] = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln and page.name in ln]
    return out


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2400) -> Path:
    """Render ``page`` in the browser and save a PNG screenshot."""
    res = _run([f"--screenshot={Path(png).resolve()}", f"--window-size={width},{height}", Path(page).resolve().as_uri()])
    if not Path(png).exists():
        raise AssertionError(f"no screenshot of {page}: {res.stderr[-1500:]}")
    return Path(png)
