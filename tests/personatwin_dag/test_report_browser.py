"""The privacy report, the release index and the Dagster asset graph, opened in headless Chromium.

The release job runs in-process for two partitions; its export asset writes each partition's
``privacy_report.html``, the ``index.html`` across partitions, and attaches their paths and the
verdict to its metadata. Chromium (Debian's ``chromium``; ``.ci/run`` installs it) then loads the
files with JavaScript disabled, through the Chrome DevTools Protocol over ``--remote-debugging-pipe``
(no port, no extra Python package), and the tests assert that every section and chart rendered, that
no request other than the file itself was made, and that the screenshots are real pictures. The last
test starts ``dagster dev`` on 127.0.0.1 and finds every stage asset on the asset graph page.

Screenshots go to ``tests/artifacts/screenshots/`` (or ``$PERSONATWIN_SCREENSHOTS``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.paths import PROJECT
from tests.personatwin_dag.helpers import (
    STAGE_ASSETS,
    DagsterDev,
    dagster_home,
    deployment_vars,
    run_partition,
)

SHOTS = Path(os.environ.get("PERSONATWIN_SCREENSHOTS") or PROJECT / "tests" / "artifacts" / "screenshots")
PARTITIONS = ["2024-01", "2024-02"]
KEY = "browser-test-release-key-0123456789abcdef"
REPORT_SECTIONS = ["verdict", "metrics", "loop", "group-rates", "event-counts", "persona-sizes", "parameters",
                   "unbias"]  # the published report (the trade-off chart is internal since issue 11)
REPORT_CHARTS = ["chart-loop", "chart-event-counts", "chart-persona-sizes"]  # + chart-rates-*
INDEX_CHARTS = ["chart-risk-trend", "chart-k-trend", "chart-disclosure-trend"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-default-apps", "--disable-extensions",
         "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
         "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe"]


# --- Chromium over the DevTools protocol (pipe transport: JSON messages ended by NUL on fds 3 / 4) ---------

def chromium_path() -> str | None:
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class Chromium:
    """One headless Chromium with a private profile, driven through CDP; ``page()`` opens a tab."""

    def __init__(self, exe: str):
        import fcntl

        self.profile = Path(tempfile.mkdtemp(prefix="pt-chromium-"))
        to_r, self._w = os.pipe()
        self._r, from_w = os.pipe()
        # the child needs exactly fd 3 (commands in) and fd 4 (replies out): move both out of the way first
        child_in, child_out = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
        os.close(to_r)
        os.close(from_w)

        def wire_fds() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.log = self.profile / "chromium.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={self.profile / 'profile'}", "about:blank"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         pass_fds=(3, 4), preexec_fn=wire_fds, start_new_session=True)
        os.close(child_in)
        os.close(child_out)
        self._next, self._results, self.events = 0, {}, []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.version = self.call("Browser.getVersion", timeout=30)["product"]
        except Exception:
            self.close()
            raise RuntimeError(f"chromium did not answer: {self.log.read_text(errors='replace')[-2000:]}") from None

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._results[-1] = {"error": {"message": "chromium closed the pipe"}}
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._results[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cond.notify_all()

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        with self._cond:
            self._next += 1
            ident = self._next
        msg = {"id": ident, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._w, data):]
        with self._cond:
            if not self._cond.wait_for(lambda: ident in self._results or -1 in self._results, timeout):
                raise TimeoutError(f"{method}: no answer from chromium in {timeout}s")
            reply = self._results.pop(ident, None) or self._results[-1]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def page(self, width: int = 1280, height: int = 900, scripts: bool = True) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Network", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        if not scripts:
            page.call("Emulation.setScriptExecutionDisabled", {"value": True})
        return page

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab: navigate, evaluate, screenshot; ``events(method)`` are this tab's CDP events."""

    def __init__(self, browser: Chromium, session: str):
        self.browser, self.session = browser, session

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        return self.browser.call(method, params, self.session, timeout)

    def events(self, method: str, start: int = 0) -> list[dict]:
        with self.browser._cond:
            return [e for e in self.browser.events[start:]
                    if e["method"] == method and e.get("sessionId") == self.session]

    def navigate(self, url: str, timeout: float = 60) -> int:
        """Load ``url`` and wait for its load event; returns the event index where this load starts."""
        start = len(self.browser.events)
        reply = self.call("Page.navigate", {"url": url})
        assert not reply.get("errorText"), reply
        deadline = time.monotonic() + timeout
        while not self.events("Page.loadEventFired", start):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout}s")
            time.sleep(0.05)
        return start

    def evaluate(self, expression: str):
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        return reply["result"].get("value")

    def screenshot(self, path: Path, clip: dict | None = None, fast: bool = True) -> bytes:
        """A PNG of the viewport or of ``clip`` (page coordinates, may reach past the viewport)."""
        params = {"format": "png", "captureBeyondViewport": clip is not None, "optimizeForSpeed": fast}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", params, timeout=120)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data


@pytest.fixture(scope="module")
def chromium():
    exe = chromium_path()
    in_ci = bool(os.environ.get("PERSONATWIN_CI") or os.environ.get("CI"))
    if exe is None:
        message = "Chromium not installed (Debian: apt-get install -y chromium; .ci/run installs it)"
        if in_ci:
            pytest.fail(message + " - CI must have it")
        pytest.skip(message)
    try:
        browser = Chromium(exe)
    except Exception as exc:  # present but unusable
        if in_ci:
            raise
        pytest.skip(f"{exe} is installed but does not start headless: {exc}")
    yield browser
    browser.close()


# --- a tiny PNG reader (8-bit RGB/RGBA, not interlaced), to check that a screenshot is not blank -----------

def png_pixels(data: bytes) -> np.ndarray:
    """The RGB pixels of a PNG as an (h, w, 3) uint8 array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6), header
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, stride + 1)
    out = np.empty((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: running sum along the row, per channel
            cur = (np.cumsum(line.reshape(width, bpp), axis=0, dtype=np.uint64) % 256).astype(np.uint8).reshape(-1)
        elif kind == 2:  # Up
            cur = line + prev
        else:  # Average / Paeth: sequential along the row
            cur, p = bytearray(line.tobytes()), prev.tobytes()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = p[i], (p[i - bpp] if i >= bpp else 0)
                if kind == 3:
                    cur[i] = (cur[i] + ((a + b) >> 1)) & 0xFF
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
            cur = np.frombuffer(bytes(cur), dtype=np.uint8)
        out[y] = cur
        prev = out[y]
    return out.reshape(height, width, bpp)[..., :3]


def assert_real_picture(data: bytes, name: str, min_side: int = 100) -> tuple[int, int]:
    """A decodable PNG of a sensible size whose pixels vary (not blank, not one flat colour)."""
    pixels = png_pixels(data)
    h, w, _ = pixels.shape
    assert w >= min_side and h >= min_side // 2, f"{name}: {w}x{h} px"
    grey = pixels.astype(np.float32).mean(axis=2)
    colours = np.unique(pixels[::3, ::3].reshape(-1, 3).astype(np.uint32) @ np.array([65536, 256, 1], np.uint32))
    assert grey.std() > 8, f"{name}: nearly uniform (std {grey.std():.1f})"
    assert len(colours) > 8, f"{name}: only {len(colours)} colours"
    assert (grey < 200).mean() > 0.005, f"{name}: almost nothing drawn"
    return w, h


# --- releases made by the export asset ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory, sample_source):
    """Two partitions released by the Dagster job in-process (report, index, metadata), in a private
    DAGSTER_HOME; also reruns the first partition to compare its report byte for byte."""
    import dagster as dg

    base = tmp_path_factory.mktemp("report_browser")
    source = base / "source"
    shutil.copytree(sample_source, source)
    env = deployment_vars(source, base / "releases", base / "assets", dagster_home(base / "dagster_home"), KEY)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        from personatwin_dag.definitions import build_defs
        from personatwin_dag.environments import resources_for

        defs = build_defs(resources_for("ci"))
        results, seconds = {}, {}
        with dg.DagsterInstance.get() as instance:
            for key in PARTITIONS:
                t0 = time.perf_counter()
                results[key] = run_partition(defs, instance, key)
                seconds[key] = time.perf_counter() - t0
                assert results[key].success, key
            first = (base / "releases" / PARTITIONS[0] / "privacy_report.html").read_bytes()
            rerun = run_partition(defs, instance, PARTITIONS[0])
            assert rerun.success
        yield {"root": base / "releases", "results": results, "rerun": rerun, "first_report": first,
               "seconds": seconds, "env": env, "base": base}


def test_export_asset_writes_report_index_and_metadata(released):
    root = released["root"]
    for key in PARTITIONS:
        (mat,) = released["results"][key].asset_materializations_for_node("release_files")
        meta = mat.metadata
        assert meta["report_path"].value == str(root / key / "privacy_report.html")
        assert Path(meta["report_path"].value).is_file()
        assert meta["index_path"].value == str(root / "index.html")
        verdict = meta["verdict"].value
        assert verdict.startswith("**SAFE_FOR_") or verdict.startswith("**INTERNAL_USE_ONLY") \
            or verdict.startswith("**NOT_SAFE"), verdict
        assert "binding metric" in verdict and key in verdict
    index = (root / "index.html").read_text()
    for key in PARTITIONS:
        assert f"href='{key}/privacy_report.html'" in index
    assert not list(root.glob(".index.html.tmp-*"))
    # the rerun of a partition (same source, same key) rewrites the identical report
    assert (root / PARTITIONS[0] / "privacy_report.html").read_bytes() == released["first_report"]
    from personatwin.publish.export import verify_manifest

    for key in PARTITIONS:
        assert verify_manifest(root / key) == []  # the index lives beside the partitions, not inside one


SECTION_CHECK = """
(() => {
  const out = {sections: {}, figures: {}, scripts: document.scripts.length};
  for (const s of document.querySelectorAll('section[id]')) {
    const r = s.getBoundingClientRect();
    out.sections[s.id] = {h: r.height, w: r.width, text: s.innerText.trim().length};
  }
  for (const f of document.querySelectorAll('figure[id]')) {
    const svg = f.querySelector('svg');
    const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const marks = svg ? [...svg.querySelectorAll('.bar, .pt, .series')] : [];
    const drawn = marks.filter(m => { const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; });
    out.figures[f.id] = {w: r.width, h: r.height, marks: marks.length, drawn: drawn.length,
                         shapes: svg ? svg.querySelectorAll('rect, path, circle, line').length : 0,
                         title: !!(svg && svg.querySelector('title')), role: svg && svg.getAttribute('role'),
                         caption: (f.querySelector('figcaption') || {innerText: ''}).innerText.trim().length,
                         top: r.top + scrollY, left: r.left + scrollX};
  }
  out.height = document.documentElement.scrollHeight;
  return out;
})()
"""


def open_static(chromium: Chromium, path: Path) -> tuple[Page, dict, list[str]]:
    """Load a local file with JavaScript disabled; the page, its rendered layout and every URL requested."""
    page = chromium.page(scripts=False)
    url = path.resolve().as_uri()
    start = page.navigate(url)
    time.sleep(0.2)  # late subresource requests, if any, would show up here
    requested = [e["params"]["request"]["url"] for e in page.events("Network.requestWillBeSent", start)]
    failed = page.events("Network.loadingFailed", start)
    errors = [e["params"]["entry"] for e in page.events("Log.entryAdded", start)
              if e["params"]["entry"]["level"] == "error"]
    assert requested == [url], f"requests besides the file itself: {requested}"
    assert not failed and not errors, (failed, errors)
    return page, page.evaluate(SECTION_CHECK), requested


def check_figures(layout: dict, expected: list[str]) -> None:
    for fid in expected:
        assert fid in layout["figures"], f"chart {fid} missing: {sorted(layout['figures'])}"
    for fid, fig in layout["figures"].items():
        assert fig["w"] > 200 and fig["h"] > 80, (fid, fig)
        assert fig["marks"] > 0 and fig["drawn"] > 0, f"{fid}: no bar, point or line drawn: {fig}"
        assert fig["title"] and fig["role"] == "img" and fig["caption"] > 20, (fid, fig)


def save_figures(page: Page, layout: dict, prefix: str) -> list[Path]:
    paths = []
    for fid, fig in sorted(layout["figures"].items()):
        path = SHOTS / f"{prefix}_{fid}.png"
        data = page.screenshot(path, clip={"x": fig["left"], "y": fig["top"], "width": fig["w"], "height": fig["h"]})
        assert_real_picture(data, path.name)
        paths.append(path)
    return paths


def test_report_renders_in_chromium_without_network(chromium, released):
    key = PARTITIONS[0]
    report = released["root"] / key / "privacy_report.html"
    page, layout, _ = open_static(chromium, report)
    assert layout["scripts"] == 0
    for sid in REPORT_SECTIONS:
        assert sid in layout["sections"], f"section {sid} missing"
        sec = layout["sections"][sid]
        assert sec["h"] > 40 and sec["w"] > 300 and sec["text"] > 50, (sid, sec)
    rate_charts = [f for f in layout["figures"] if f.startswith("chart-rates-")]
    assert len(rate_charts) >= 2, rate_charts  # one per bias attribute (sex, race, ...)
    check_figures(layout, REPORT_CHARTS + rate_charts)

    shots = [SHOTS / f"report_{key}_top.png", SHOTS / f"report_{key}_full.png"]
    assert_real_picture(page.screenshot(shots[0]), shots[0].name)
    full = page.screenshot(shots[1], clip={"x": 0, "y": 0, "width": 1280, "height": layout["height"]}, fast=False)
    assert full[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", full[16:24]) == (1280, layout["height"])
    shots += save_figures(page, layout, f"report_{key}")

    # printed: navigation hidden, charts kept; a PDF of several pages
    page.call("Emulation.setEmulatedMedia", {"media": "print"})
    assert page.evaluate("getComputedStyle(document.querySelector('nav.toc')).display") == "none"
    assert page.evaluate("document.querySelectorAll('figure svg').length") == len(layout["figures"])
    shots.append(SHOTS / f"report_{key}_print.png")
    assert_real_picture(page.screenshot(shots[-1]), shots[-1].name)
    pdf = base64.b64decode(page.call("Page.printToPDF", {"printBackground": True}, timeout=120)["data"])
    assert pdf[:5] == b"%PDF-" and pdf.count(b"/Type /Page") > 2
    (SHOTS / f"report_{key}.pdf").write_bytes(pdf)
    print("\nreport screenshots:\n  " + "\n  ".join(str(p) for p in shots))


def test_index_renders_in_chromium_and_links_every_report(chromium, released):
    root = released["root"]
    page, layout, _ = open_static(chromium, root / "index.html")
    for sid in ("trends", "releases"):
        assert sid in layout["sections"] and layout["sections"][sid]["h"] > 40, sid
    check_figures(layout, INDEX_CHARTS)
    assert set(layout["figures"]) == set(INDEX_CHARTS)
    for fid in INDEX_CHARTS:  # one point per partition on each line
        assert layout["figures"][fid]["marks"] >= len(PARTITIONS), layout["figures"][fid]
    links = page.evaluate("[...document.querySelectorAll('a[href$=\"privacy_report.html\"]')].map(a => a.href)")
    assert sorted(links) == sorted((root / k / "privacy_report.html").resolve().as_uri() for k in PARTITIONS)
    for link in links:
        assert Path(urllib.request.url2pathname(link[len("file://"):])).is_file(), link
    text = page.evaluate("document.querySelector('#releases').innerText")
    for key in PARTITIONS:
        assert key in text
    assert "SAFE_FOR_" in text or "INTERNAL_USE_ONLY" in text or "NOT_SAFE" in text
    shots = [SHOTS / "index_top.png"]
    assert_real_picture(page.screenshot(shots[0]), shots[0].name)
    shots += save_figures(page, layout, "index")
    print("\nindex screenshots:\n  " + "\n  ".join(str(p) for p in shots))


# --- dagster dev: the asset graph page -------------------------------------------------------------------

@pytest.mark.slow
def test_dagster_dev_asset_graph_shows_every_stage_asset(chromium, released, tmp_path):
    from assets.constants import STAGE_GROUPS

    # the instance with the two partitions materialized
    server = DagsterDev(tmp_path / "dagster_dev.log", env={**os.environ, **released["env"]})
    proc, base_url = server.proc, server.url
    try:
        server.wait_ready(timeout=90)
        # the community sign-up dialog the UI shows once per instance would cover the graph
        assert server.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True

        # global asset lineage, every stage group expanded (the UI keeps expanded groups in the query string)
        expanded = ",".join(f"global@global:{g}" for g in STAGE_GROUPS)
        page = chromium.page(width=1440, height=900)
        page.navigate(f"{base_url}/asset-groups?expanded={urllib.request.quote(expanded, safe='')}")
        texts_js = ("(() => { const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); const out = [];"
                    " while (w.nextNode()) { const t = w.currentNode.nodeValue.trim(); if (t) out.push(t); }"
                    " return out; })()")
        deadline, pressed, missing = time.monotonic() + 60, False, STAGE_ASSETS
        while time.monotonic() < deadline:
            texts = set(page.evaluate(texts_js) or [])
            missing = [a for a in STAGE_ASSETS if a not in texts]
            if not missing:
                break
            if not pressed and time.monotonic() > deadline - 40 and any(g in texts for g in STAGE_GROUPS):
                for kind in ("rawKeyDown", "keyUp"):  # fallback: the graph's "expand all groups" shortcut (Alt+E)
                    page.call("Input.dispatchKeyEvent", {"type": kind, "modifiers": 1, "key": "e", "code": "KeyE",
                                                         "windowsVirtualKeyCode": 69})
                pressed = True
            time.sleep(0.5)
        assert not missing, f"asset graph page lacks {missing} ({page.evaluate('location.href')})"
        boxes = page.evaluate(
            "(() => { const names = " + json.dumps(STAGE_ASSETS) + "; const found = {};"
            " const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);"
            " while (w.nextNode()) { const t = w.currentNode.nodeValue.trim(); if (names.includes(t)) {"
            " const r = w.currentNode.parentElement.getBoundingClientRect();"
            " if (r.width > 0 && r.height > 0) found[t] = true; } }"
            " return Object.keys(found); })()")
        assert sorted(boxes) == sorted(STAGE_ASSETS), f"not visible: {set(STAGE_ASSETS) - set(boxes)}"
        time.sleep(1.0)  # let the graph finish its zoom-to-fit animation
        shot = SHOTS / "dagster_asset_graph.png"
        assert_real_picture(page.screenshot(shot), shot.name)
        print(f"\nasset graph screenshot: {shot}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C to the whole group, as a terminal would
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                pytest.fail(f"dagster dev did not stop within 30 s of SIGINT:\n{server.log_tail(30)}")
        deadline = time.monotonic() + 15
        while server.processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        if server.processes():
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("processes of dagster dev left after it exited")
