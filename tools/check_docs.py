"""Checks of the built documentation site (docs/_build/html), run by .ci/run.

    python tools/check_docs.py links [HTML_DIR]
    python tools/check_docs.py browser [HTML_DIR] [--screenshots DIR] [PAGE ...]

``links``: every relative ``href``/``src`` of every built page must name a file of the site,
and every ``#fragment`` an ``id`` in the target page. Links with a scheme (http, https,
mailto, ...) are not followed: the machines that build the site have no network.

``browser``: opens each PAGE (default: the index, an API page, the tutorials) in headless
Chromium (Debian's ``chromium``) from ``file://``, and fails when the browser's console
reports an uncaught JavaScript error or a local file that fails to load, or when an ``<img>``
of the rendered page has no file behind it or the page has no figure where one is expected.
A screenshot of each page is written to --screenshots (default:
docs/_build/screenshots). Resources on the internet (none are needed; MathJax on pages with
formulas is the one the theme asks for) are reported, not failed: offline they cannot load.
"""
import argparse
import html.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HTML = ROOT / "docs" / "_build" / "html"
# page -> minimum number of figures (<img> under _images/) it must show: the index, an API
# page (with formulas), every tutorial and the performance page
DEFAULT_PAGES = {"index.html": 0, "api/optimizer.html": 0, "tutorials/convnet.html": 1,
                 "tutorials/backprop.html": 2, "tutorials/optimizers.html": 2,
                 "tutorials/weight_init.html": 1, "tutorials/batchnorm.html": 1,
                 "tutorials/regularization.html": 2, "tutorials/hyperparameters.html": 1,
                 "tutorials/dropout_fashion.html": 0, "tutorials/checkpoints.html": 1,
                 "tutorials/threads_float32.html": 1, "tutorials/distributed.html": 0,
                 "performance.html": 4}


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids, self.imgs = [], set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append((tag, a[key]))
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])


def _parse(path, cache={}):
    if path not in cache:
        c = _Collector()
        c.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = c
    return cache[path]


def check_links(site):
    """List of 'page: problem' strings for broken relative links and fragments."""
    problems, checked = [], 0
    for page in sorted(site.rglob("*.html")):
        if page.relative_to(site).parts[0] == "_static":
            continue    # theme templates copied as static files, not pages
        for tag, link in _parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or link.startswith("data:"):
                continue
            checked += 1
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            rel = page.relative_to(site)
            if not target.exists():
                problems.append(f"{rel}: <{tag}> {link}: no file {target}")
                continue
            if target.is_dir():
                target = target / "index.html"
                if not target.exists():
                    problems.append(f"{rel}: <{tag}> {link}: a directory without index.html")
                    continue
            frag = unquote(parts.fragment)
            if frag and target.suffix == ".html" and frag not in _parse(target).ids:
                problems.append(f"{rel}: <{tag}> {link}: no id {frag!r} in "
                                f"{target.relative_to(site)}")
    return problems, checked


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run_browser(exe, url, extra, profile):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
           "--window-size=1280,2000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


# chromium's console lines: [pid:tid:date:INFO:CONSOLE:12] "message", source: URL (12)
CONSOLE = re.compile(r'CONSOLE[:(]\d*\)?\]\s*"(?P<msg>.*)", source: (?P<src>\S*)')


def check_page(exe, site, page, min_figures, shots):
    """List of problems of one page in the browser; writes its screenshot."""
    problems = []
    path = site / page
    url = path.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        dom = _run_browser(exe, url, ["--dump-dom"], profile)
    with tempfile.TemporaryDirectory() as profile:
        shot = shots / (page.replace("/", "_").replace(".html", ".png"))
        pic = _run_browser(exe, url, [f"--screenshot={shot}"], profile)
    if dom.returncode != 0 or not dom.stdout.strip():
        problems.append(f"{page}: chromium --dump-dom failed (exit {dom.returncode}): "
                        f"{dom.stderr[-500:]}")
    if pic.returncode != 0 or not shot.exists() or shot.stat().st_size == 0:
        problems.append(f"{page}: no screenshot (exit {pic.returncode})")
    remote = []
    for line in (dom.stderr + pic.stderr).splitlines():
        m = CONSOLE.search(line)
        if "Uncaught" in line:
            problems.append(f"{page}: JavaScript error: {line.strip()[:300]}")
        elif m and ("Error" in m["msg"] or "Failed to load" in m["msg"]):
            if m["src"].startswith("file:") or not m["src"]:
                problems.append(f"{page}: console error: {m['msg'][:300]} ({m['src']})")
            else:
                remote.append(f"{m['msg'][:120]} ({m['src']})")
    # figures: every <img> of the rendered DOM must be a file of the site
    c = _Collector()
    c.feed(dom.stdout)
    figures = 0
    for src in c.imgs:
        parts = urlsplit(src)
        if parts.scheme in ("http", "https", "data"):
            continue
        target = Path(unquote(parts.path)) if parts.scheme == "file" else \
            (path.parent / unquote(parts.path)).resolve()
        if not target.is_file() or target.stat().st_size == 0:
            problems.append(f"{page}: <img src={src!r}>: missing or empty file {target}")
        elif "_images" in target.parts:
            figures += 1
    if figures < min_figures:
        problems.append(f"{page}: {figures} figure(s) in the rendered page; expected at "
                        f"least {min_figures}")
    return problems, figures, remote, shot


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("links", "browser"))
    ap.add_argument("html", nargs="?", default=str(DEFAULT_HTML))
    ap.add_argument("--screenshots", default=str(ROOT / "docs" / "_build" / "screenshots"))
    ap.add_argument("--page", action="append", default=[],
                    help="PAGE or PAGE:MIN_FIGURES (repeatable; default: index, an API page, "
                         "the tutorials, performance)")
    args = ap.parse_args(argv)
    site = Path(args.html).resolve()
    if not (site / "index.html").exists():
        sys.exit(f"check_docs: expected a built site at {site}; got no index.html there")
    if args.what == "links":
        problems, checked = check_links(site)
        for p in problems:
            print("broken link:", p)
        print(f"check_docs links: {checked} relative links checked, {len(problems)} broken")
        return 1 if problems else 0
    exe = chromium()
    if exe is None:
        sys.exit("check_docs: chromium not found (apt-get install chromium)")
    pages = dict(DEFAULT_PAGES)
    if args.page:
        pages = {}
        for p in args.page:
            name, _, n = p.partition(":")
            pages[name] = int(n or 0)
    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    failed = False
    for page, min_fig in pages.items():
        problems, figures, remote, shot = check_page(exe, site, page, min_fig, shots)
        for p in problems:
            print("FAIL", p)
        for r in remote:
            print(f"note {page}: not loaded from the network (offline): {r}")
        print(f"check_docs browser: {page}: {figures} figure(s), "
              f"{len(problems)} problem(s), screenshot {shot}")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
