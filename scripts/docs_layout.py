"""Check the built documentation site in a real browser: no code block and no page scrolls sideways.

    python scripts/docs_layout.py [site] [--screenshots DIR]

Every page of `site/` (built by `nox -s docs`) is opened in headless Chromium at 1,280 px and at a
phone's 390 px; a script measures, once the page has loaded, every code block (`pre > code`) and the
page itself, and the check fails when any is wider than its box. With `--screenshots DIR` it also
saves each page at both widths as PNGs, to look at. Needs Chromium (Debian: `apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = {"desktop": 1280, "phone": 390}
MARK = "lmsystems-layout"
PROBE = f"""<script>
window.addEventListener("load", () => {{
  const wide = [];
  for (const code of document.querySelectorAll(".md-typeset pre > code")) {{
    if (code.scrollWidth > code.clientWidth + 1) wide.push(code.textContent.trim().slice(0, 80));
  }}
  const page = document.documentElement.scrollWidth > window.innerWidth + 1;
  document.body.setAttribute("data-{MARK}", JSON.stringify({{wide, page}}));
}});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("docs_layout: no Chromium found (Debian: apt-get install chromium)")


def browse(browser: str, url: str, width: int, *args: str) -> str:
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},1200",
            "--virtual-time-budget=3000",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout


def pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("index.html") if "assets" not in p.parts)


def check(site: Path, screenshots: Path | None) -> list[str]:
    browser = chromium()
    problems: list[str] = []
    for page in pages(site):
        name = str(page.parent.relative_to(site)).replace("/", "-").strip(".") or "home"
        probe = page.with_name(f".{MARK}.html")
        probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
        try:
            for label, width in WIDTHS.items():
                dom = browse(browser, probe.as_uri(), width, "--dump-dom")
                found = re.search(rf'data-{MARK}="([^"]*)"', dom)
                if found is None:
                    problems.append(f"{name} at {width} px: the page did not load")
                    continue
                result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
                problems += [f"{name} at {width} px: a code block scrolls: {t!r}" for t in result["wide"]]
                if result["page"]:
                    problems.append(f"{name} at {width} px: the page scrolls sideways")
                if screenshots is not None:
                    shot = screenshots / f"{name}-{label}.png"
                    browse(browser, page.as_uri(), width, f"--screenshot={shot}")
        finally:
            probe.unlink(missing_ok=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", default="site", type=lambda text: Path(text).resolve())
    parser.add_argument("--screenshots", type=Path, default=None)
    options = parser.parse_args()
    if not (options.site / "index.html").is_file():
        raise SystemExit(f"docs_layout: no built site in {options.site}: run `nox -s docs` first")
    if options.screenshots is not None:
        options.screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory():
        problems = check(options.site, options.screenshots)
    for problem in problems:
        print(problem)
    count = len(pages(options.site))
    print(f"{count} pages at {' and '.join(f'{w} px' for w in WIDTHS.values())}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
