"""Headless Chromium driven over the Chrome DevTools Protocol (a websocket), for report tests:
load a page, collect console messages, exceptions, log entries and requests, evaluate
JavaScript, and capture a full-page PNG."""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--hide-scrollbars", "--remote-debugging-port=0"]
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions, error log entries, failed loads."""
        out = [f"console.{c['type']}: {c.get('args')}" for c in self.console
               if c["type"] in ("error", "assert", "warning")]
        out += [f"exception: {e.get('exceptionDetails', {}).get('text')}"
                for e in self.exceptions]
        out += [f"log {e['entry']['level']}: {e['entry'].get('text')}" for e in self.log
                if e["entry"]["level"] in ("error", "warning")]
        out += [f"failed: {f.get('errorText')}" for f in self.failed]
        return out


class Chromium:
    """One headless browser with a fresh profile; use as a context manager."""

    def __init__(self, binary: str, *, timeout: float = 60.0) -> None:
        self.binary = binary
        self.timeout = timeout
        self._id = 0
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}

    def __enter__(self) -> Self:
        self.profile = tempfile.mkdtemp(prefix="slick-chromium-")
        self.process = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        url = self._wait_for_endpoint()
        self.ws = connect(url, max_size=None, open_timeout=self.timeout)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)

    def _wait_for_endpoint(self) -> str:
        found: queue.Queue[str] = queue.Queue()
        lines: list[str] = []

        def scan() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                lines.append(line)
                match = _LISTENING.search(line)
                if match:
                    found.put(match.group(1))
            found.put("")

        threading.Thread(target=scan, daemon=True).start()
        try:
            url = found.get(timeout=self.timeout)
        except queue.Empty:
            url = ""
        if not url:
            raise RuntimeError("chromium did not open its DevTools endpoint:\n"
                               + "".join(lines[-20:]))
        return url

    def _read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                if "id" in message and message["id"] in self._replies:
                    self._replies[message["id"]].put(message)
                else:
                    self._events.put(message)
        except (ConnectionClosed, OSError):  # the socket closes when the browser exits
            return

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None) -> dict[str, Any]:
        self._id += 1
        reply: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies[self._id] = reply
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        answer = reply.get(timeout=self.timeout)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def load(self, url: str, *, width: int = 1280, height: int = 900
             ) -> tuple[str, PageLoad]:
        """Open `url` in a new tab and wait for its load event; (session id, what happened)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        seen = PageLoad()
        deadline = time.monotonic() + self.timeout
        loaded = False
        settle_until = None
        while True:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{url} did not load within {self.timeout} s")
            if settle_until is not None and now >= settle_until:
                break
            try:
                event = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                seen.console.append({"type": params["type"],
                                     "args": [a.get("value") for a in params.get("args", [])]})
            elif method == "Runtime.exceptionThrown":
                seen.exceptions.append(params)
            elif method == "Log.entryAdded":
                seen.log.append(params)
            elif method == "Network.requestWillBeSent":
                seen.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                seen.failed.append(params)
            elif method == "Page.loadEventFired" and not loaded:
                loaded = True
                settle_until = time.monotonic() + 0.5  # late console messages
        return session, seen

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True}, session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, session: str, path: str | os.PathLike) -> None:
        """A PNG of the whole page (not just the viewport)."""
        metrics = self.send("Page.getLayoutMetrics", session=session)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}}, session=session)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
