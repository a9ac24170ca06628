"""Drive headless Chromium over the DevTools protocol (no browser download, no Playwright).

Used by ``test_browser.py`` and by authors who want screenshots of the built book::

    python -m tests.browser shot _build/html book/ch01_linearization.html shot.png --width 400
    python -m tests.browser measure _build/html book/ch01_linearization.html --width 1280
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import shutil
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import websocket

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# Every host but loopback is unresolvable, so nothing can leave the machine unnoticed.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--window-size=1280,900",
]


def find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (random port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as httpd:
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()


class Page:
    """One Chromium tab, with the network events and console errors of the last load."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self._id = 0
        self.requests: list[str] = []
        self.failures: list[tuple[str, str]] = []
        self.console_errors: list[str] = []
        self._urls: dict[str, str] = {}
        self._load_fired = False
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _handle(self, msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            self._urls[params["requestId"]] = url
            self.requests.append(url)
        elif method == "Network.loadingFailed":
            url = self._urls.get(params["requestId"], "?")
            self.failures.append((url, params.get("errorText", "")))
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            self.failures.append((params["response"]["url"], str(params["response"]["status"])))
        elif method == "Page.loadEventFired":
            self._load_fired = True
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.console_errors.append(params["entry"].get("text", "")[:500])

    def call(self, method: str, **params) -> dict:
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._handle(msg)

    def navigate(self, url: str, timeout: float = 60.0) -> None:
        self.requests, self.failures, self.console_errors = [], [], []
        self._load_fired = False
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not self._load_fired:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout} s")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self._handle(json.loads(self.ws.recv()))
        self.ws.settimeout(60)

    def evaluate(self, expression: str, *, await_promise: bool = False):
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=await_promise,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error in {expression[:80]!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        params = {"format": "png"}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], 12000),
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def set_width(self, width: int, height: int = 900) -> None:
        """Lay the page out in a viewport ``width`` CSS pixels wide (400: a phone)."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )

    def close(self) -> None:
        self.ws.close()


@contextlib.contextmanager
def chromium(executable: str):
    """Start headless Chromium with a fresh profile; yields a :class:`Page`."""
    profile = tempfile.mkdtemp(prefix="ntklab-chromium-")
    proc = subprocess.Popen(
        [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    page = None
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = [t for t in json.load(r) if t.get("type") == "page"]
        page = Page(targets[0]["webSocketDebuggerUrl"])
        yield page
    finally:
        if page is not None:
            page.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


# JavaScript run on each page after load: wait for MathJax, then report what a reader would see.
PAGE_REPORT_JS = """
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const maths = Array.from(document.querySelectorAll('.math'));
  const untypeset = maths.filter(e => !e.querySelector('mjx-container'))
                         .map(e => e.textContent.slice(0, 80));
  const errors = Array.from(document.querySelectorAll('mjx-merror, .mjx-merror'))
                      .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0))
                       .map(i => i.getAttribute('src'));
  return {mathjax: !!window.MathJax, nmath: maths.length, untypeset, errors,
          nimages: images.length, broken, title: document.title};
})()
"""


# JavaScript run on a chapter page after load: what a reader sees of its layout at this width.
# A display equation is "cut" when its typeset math is wider than its box; it "scrolls" when the box
# scrolls sideways (overflow-x auto/scroll), so that the reader can reach the rest ("cutScroll"),
# and it is "cueless" when it scrolls without a visible cue (no shadow or fade on its box).
# "pageWidth" is the width the page lays out to (wider than the window: the reader scrolls the
# whole page sideways), and "overflowing" names the outermost elements that stick out.
# "ipynb": the page links a .ipynb (the theme's download button lists the executed notebook).
LAYOUT_REPORT_JS = """
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const wide = (outer, inner) =>
    inner.getBoundingClientRect().width > outer.getBoundingClientRect().width + 1;
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const text = e => e.textContent.replace(/\\s+/g, ' ').trim().slice(0, 80);
  const displays = Array.from(document.querySelectorAll('mjx-container[display="true"]'));
  // a scrolling display shows a cue (a shadow or a fade on the hidden side) or it is "cueless"
  const cue = e => getComputedStyle(e).boxShadow !== 'none'
                   || /gradient/.test(getComputedStyle(e).backgroundImage);
  const cut = [], cutScroll = [], cueless = [];
  for (const c of displays) {
    const box = c.closest('div.math') || c.parentElement;
    const math = c.querySelector('mjx-math') || c;
    if (wide(box, math) || wide(c, math)) {
      const holder = scrolls(c) ? c : (scrolls(box) ? box : null);
      (holder ? cutScroll : cut).push(text(box));
      if (holder && !cue(holder)) cueless.push(text(box));
    }
  }
  const pres = Array.from(document.querySelectorAll('div.highlight pre'));
  const widePre = pres.filter(p => p.scrollWidth > p.clientWidth + 1)
                      .map(p => p.textContent.split('\\n')
                                 .reduce((a, b) => (b.length > a.length ? b : a), '')
                                 .slice(0, 100));
  const cells = Array.from(document.querySelectorAll('div.cell'));
  let visibleLines = 0;
  for (const cell of cells) {
    if (/tag_(hide|remove)-(input|cell)/.test(cell.className)) continue;
    const pre = cell.querySelector('.cell_input pre');
    if (pre) visibleLines += pre.textContent.replace(/\\n$/, '').split('\\n').length;
  }
  const outputImages = Array.from(document.querySelectorAll('.cell_output img'));
  const uncaptioned = outputImages.filter(i => {
    const fig = i.closest('figure');
    return !(fig && fig.querySelector('figcaption'));
  }).map(i => (i.getAttribute('src') || '').slice(-60));
  const headings = Array.from(document.querySelectorAll('h2')).map(h => text(h));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'));
  // what makes the page wider than the window: elements sticking out on the right that no
  // scrolling or clipping box around them holds in
  const W = document.documentElement.clientWidth;
  const inBox = e => {
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  const overflowing = Array.from(document.querySelectorAll('article *'))
    .filter(e => e.getBoundingClientRect().right > W + 1 && !inBox(e))
    .filter(e => !(e.parentElement && e.parentElement.getBoundingClientRect().right > W + 1
                   && !inBox(e.parentElement)))
    .map(e => e.tagName.toLowerCase() + ': ' + text(e)).slice(0, 5);
  return {
    width: window.innerWidth,
    pageWidth: document.documentElement.scrollWidth, overflowing,
    ndisplay: displays.length, cut, cutScroll, cueless,
    ncode: pres.length, widePre,
    visibleLines,
    nfigures: outputImages.length, uncaptioned,
    headings,
    ipynb: links.some(h => /\\.ipynb$/.test(h)),
  };
})()
"""


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - author's tool
    """Screenshots and layout reports of built pages, for authors::

    python -m tests.browser shot HTML_DIR PAGE.html OUT.png [--width 400]
    python -m tests.browser measure HTML_DIR PAGE.html [PAGE.html ...] [--width 1280]
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.browser")
    parser.add_argument("command", choices=["shot", "measure"])
    parser.add_argument("html_dir", type=Path)
    parser.add_argument("pages", nargs="+", help="pages relative to HTML_DIR (shot: PAGE OUT.png)")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    exe = find_chromium()
    if exe is None:
        raise SystemExit("chromium not found (apt-get install chromium)")
    if args.command == "shot" and len(args.pages) != 2:
        parser.error("shot takes one PAGE.html and one OUT.png")
    with serve(args.html_dir) as base, chromium(exe) as page:
        page.set_width(args.width)
        targets = [args.pages[0]] if args.command == "shot" else args.pages
        for rel in targets:
            page.navigate(f"{base}/{rel}")
            report = page.evaluate(LAYOUT_REPORT_JS, await_promise=True)
            if args.command == "shot":
                page.screenshot(Path(args.pages[1]))
            print(rel, json.dumps(report, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
