"""A page opened in headless Chromium, watched through the DevTools protocol: every request
it makes, every request that fails, and values read from its DOM once it has loaded.

The protocol runs over ``--remote-debugging-pipe`` (JSON messages ending in a NUL byte,
the browser reading on its descriptor 3 and writing on 4), so nothing listens on a port
and no package beyond the standard library is needed. Host names resolve to nothing
(``--host-resolver-rules``): a page that asked the network for anything would see the
request fail, and the log here keeps it either way.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLoad:
    """What opening a page did."""

    requests: list[str] = field(default_factory=list)  # every URL the page asked for, the page's own first
    failures: list[str] = field(default_factory=list)  # "URL: reason" of each request that failed
    values: Any = None  # what the expression evaluated to, once the page had loaded
    screenshot: bytes | None = None


class _Pipe:
    def __init__(self, to_browser: int, from_browser: int) -> None:
        self.to_browser, self.from_browser = to_browser, from_browser
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        return self.next_id

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise ConnectionError("the browser closed the pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        """Send a command and wait for its answer; events that come first are kept."""
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method for e in self.events):
            message = self._read(deadline)
            if "method" in message:
                self.events.append(message)


def open_page(browser: str, page: Path, expression: str, *, width: int = 1300, screenshot: int | None = None,
              settle: float = 0.5, timeout: float = 90) -> PageLoad:
    """Open ``page`` (a local file) in headless Chromium, wait for its load event, then
    evaluate ``expression`` (JavaScript whose value is JSON-able) in it; ``screenshot``:
    a picture of the page's top, this many pixels high."""
    to_browser_read, to_browser_write = os.pipe()
    from_browser_read, from_browser_write = os.pipe()

    def descriptors() -> None:  # in the child: the pipe's ends where Chromium looks for them
        # Through numbers above both, so that neither end is overwritten by the other's move.
        high_read = os.dup2(to_browser_read, 100)
        high_write = os.dup2(from_browser_write, 101)
        os.dup2(high_read, 3)
        os.dup2(high_write, 4)

    with tempfile.TemporaryDirectory(prefix="gancore-chromium-") as profile:
        args = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "about:blank"]
        process = subprocess.Popen(args, preexec_fn=descriptors, pass_fds=(3, 4),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        pipe = _Pipe(to_browser_write, from_browser_read)
        try:
            return _load(pipe, page, expression, width, screenshot, settle, timeout)
        finally:
            try:
                pipe.send("Browser.close")
            except OSError:
                pass
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(to_browser_write)
            os.close(from_browser_read)


def _load(pipe: _Pipe, page: Path, expression: str, width: int, screenshot: int | None, settle: float,
          timeout: float) -> PageLoad:
    target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
    session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Network", "Page", "Runtime"):
        pipe.call(f"{domain}.enable", session=session)
    pipe.call("Emulation.setDeviceMetricsOverride",
              {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
    pipe.events.clear()  # only what the page does from here on
    pipe.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    pipe.wait_for("Page.loadEventFired", timeout=timeout)
    # Whatever the load event left pending (a lazy image, a late fetch) gets a moment to start.
    end = time.monotonic() + settle
    while time.monotonic() < end:
        pipe.call("Runtime.evaluate", {"expression": "1"}, session=session)
        time.sleep(0.05)
    result = pipe.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                       session=session)
    if "exceptionDetails" in result:
        raise RuntimeError(f"the check failed in the page: {result['exceptionDetails']}")
    load = PageLoad(values=result["result"].get("value"))
    urls = {}
    for event in pipe.events:
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
            load.requests.append(params["request"]["url"])
        elif event["method"] == "Network.loadingFailed":
            reason = params.get("blockedReason") or params.get("errorText", "failed")
            load.failures.append(f"{urls.get(params['requestId'], '?')}: {reason}")
    if screenshot:
        clip = {"x": 0, "y": 0, "width": width, "height": screenshot, "scale": 1}
        shot = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip},
                         session=session)
        load.screenshot = base64.b64decode(shot["data"])
    return load
