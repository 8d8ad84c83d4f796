"""Render a report in headless Chromium and look at the real page (tests, the README screenshot).

Talks the DevTools protocol over `--remote-debugging-pipe` (fd 3 in, fd 4 out, messages split by
NUL), so it needs no websocket library and opens no port. `render()` loads a file and returns the
rendered DOM, every console message and uncaught exception, the URLs the page tried to fetch, and
the values of any JavaScript expressions asked for; optionally a PNG screenshot and a PDF print.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CallbridgeError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class BrowserError(CallbridgeError):
    """Chromium is missing, failed to start, or did not answer."""


def find_chromium() -> str | None:
    env = os.environ.get("CALLBRIDGE_CHROMIUM")
    if env:
        return env
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Rendered:
    dom: str = ""
    console: list[dict[str, Any]] = field(default_factory=list)    # {"level", "text"}
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    png: bytes | None = None
    pdf: bytes | None = None

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions: a clean page has none."""
        return [m["text"] for m in self.console if m["level"] in ("error", "assert")] + self.exceptions


class _Pipe:
    def __init__(self, binary: str, profile: str):
        r_in, self._w = os.pipe()       # we write commands, Chromium reads fd 3
        self._r, w_out = os.pipe()      # Chromium writes fd 4, we read

        def child_fds() -> None:
            a, b = os.dup(r_in), os.dup(w_out)   # dup first: r_in/w_out may themselves be 3 or 4
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
                "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, preexec_fn=child_fds, pass_fds=(3, 4))
        except OSError as e:
            raise BrowserError(f"cannot start Chromium: {e}", path=binary) from None
        finally:
            os.close(r_in)
            os.close(w_out)
        self._next = 0
        self._lock = threading.Condition()
        self._responses: dict[int, dict] = {}
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._lock.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._lock:
                    if "id" in msg:
                        self._responses[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._lock.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self._next += 1
        mid = self._next
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while mid not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise BrowserError(f"Chromium did not answer {method}")
                self._lock.wait(min(left, 0.5))
            resp = self._responses.pop(mid)
        if "error" in resp:
            raise BrowserError(f"{method}: {resp['error'].get('message')}")
        return resp.get("result", {})

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for e in self.events:
                    if e.get("method") == method:
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise BrowserError(f"Chromium sent no {method}")
                self._lock.wait(min(left, 0.5))

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send("Browser.close", timeout=5)
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass


def render(html_path: str | Path, expressions: dict[str, str] | None = None, *, screenshot: bool = False,
           width: int = 1280, max_height: int = 4000, pdf: bool = False, settle_s: float = 0.3,
           fragment: str = "", block_network: bool = False, wait_for: str | None = None,
           wait_s: float = 10.0) -> Rendered:
    """Load `html_path` in headless Chromium and report what the page did.

    `fragment` ("turn-3") is appended to the file URL as `#turn-3`. `block_network` refuses every
    http(s)/ws(s) request (the page must work offline; what it tried is still in `requests`).
    `wait_for` is a JavaScript expression polled until it is truthy (at most `wait_s` seconds)
    before the `expressions` are evaluated; an expression that returns a promise is awaited."""
    binary = find_chromium()
    if not binary:
        raise BrowserError("Chromium is not installed", hint="apt-get install chromium (or set CALLBRIDGE_CHROMIUM)")
    url = Path(html_path).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    profile = tempfile.mkdtemp(prefix="callbridge-chromium-")
    pipe = _Pipe(binary, profile)
    out = Rendered()
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.send(f"{domain}.enable", session=sid)
        pipe.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=sid)
        if block_network:
            pipe.send("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]},
                      session=sid)
        pipe.send("Page.navigate", {"url": url}, session=sid)
        pipe.wait_event("Page.loadEventFired")
        time.sleep(settle_s)  # let late errors (e.g. a failed image) reach the console
        if wait_for:
            deadline = time.monotonic() + wait_s
            while not pipe.send("Runtime.evaluate", {"expression": f"!!({wait_for})", "returnByValue": True},
                                session=sid).get("result", {}).get("value"):
                if time.monotonic() > deadline:
                    raise BrowserError(f"the page never reached: {wait_for}")
                time.sleep(0.1)
        for name, expr in (expressions or {}).items():
            r = pipe.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                          session=sid)
            out.values[name] = r.get("result", {}).get("value")
        out.dom = pipe.send("Runtime.evaluate", {"expression": "document.documentElement.outerHTML",
                                                 "returnByValue": True}, session=sid)["result"]["value"]
        if screenshot:
            h = pipe.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight",
                                               "returnByValue": True}, session=sid)["result"]["value"]
            height = int(min(max_height, max(600, h)))
            pipe.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=sid)
            shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=sid, timeout=60)
            out.png = base64.b64decode(shot["data"])
        if pdf:
            out.pdf = base64.b64decode(pipe.send("Page.printToPDF", {}, session=sid, timeout=60)["data"])
        with pipe._lock:
            events = list(pipe.events)
        for e in events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                out.console.append({"level": p.get("type", "log"), "text": text})
            elif m == "Log.entryAdded":
                entry = p.get("entry", {})
                out.console.append({"level": entry.get("level", "info"), "text": entry.get("text", "")})
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.exceptions.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
            elif m == "Network.requestWillBeSent":
                out.requests.append(p.get("request", {}).get("url", ""))
    finally:
        pipe.close()
        shutil.rmtree(profile, ignore_errors=True)
    return out
