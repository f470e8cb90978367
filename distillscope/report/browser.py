"""Open a page in headless Chromium and collect what a reader would see: DOM facts, console
errors, network requests and a screenshot.

It speaks the DevTools protocol over ``--remote-debugging-pipe`` (NUL-separated
JSON on file descriptors 3 and 4), so it needs no websocket library and opens no
port. Used by the report tests and by the demo to keep a screenshot. This module
must not judge the page; callers assert on what it returns.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
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

from distillscope.errors import DistillscopeError

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


class BrowserError(DistillscopeError, RuntimeError):
    """Chromium is missing, died, or did not answer in time."""


def find_chromium() -> str | None:
    """Debian's chromium (``/usr/bin/chromium``), or the first chromium on PATH."""
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        path = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if path:
            return path
    return None


@dataclass
class PageVisit:
    """What loading one page produced."""

    console_errors: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)  # URLs requested that are not file: or data:
    evaluated: Any = None
    screenshot: bytes | None = None


class _Pipe:
    """A DevTools session over Chromium's remote-debugging pipe."""

    def __init__(self, executable: str, user_data_dir: str, width: int, height: int) -> None:
        a, b = os.pipe()
        c, d = os.pipe()
        # Move the pipe ends above fd 10 so that dup2 onto 3/4 in the child never clobbers them.
        self._to_child_r, self._to_child_w, self._from_child_r, self._from_child_w = (
            fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (a, b, c, d)
        )
        for fd in (a, b, c, d):
            os.close(fd)
        to_r, from_w = self._to_child_r, self._from_child_w

        def _child_fds() -> None:
            os.dup2(to_r, 3, inheritable=True)
            os.dup2(from_w, 4, inheritable=True)

        self.proc = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={user_data_dir}",
                f"--window-size={width},{height}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=_child_fds,
        )
        os.close(self._to_child_r)
        os.close(self._from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_child_w, json.dumps(message).encode() + b"\0")
        except BrokenPipeError as exc:
            raise BrowserError("chromium closed its DevTools pipe (did it start?)") from exc
        return self._next_id

    def receive(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_child_r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._from_child_r, 1 << 20)
            if not chunk:
                raise BrowserError("chromium exited before answering")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(max(0.0, deadline - time.monotonic()))
            if message is None:
                raise BrowserError(f"chromium did not answer {method} within {timeout:.0f} s")
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float) -> bool:
        if any(e.get("method") == event for e in self.events):
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(deadline - time.monotonic())
            if message is None:
                return False
            self.events.append(message)
            if message.get("method") == event:
                return True
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._to_child_w)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._from_child_r)


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", "error"))
    return errors


def visit(
    url_or_path: str | os.PathLike[str],
    *,
    evaluate: str | None = None,
    screenshot: bool = True,
    width: int = 1200,
    height: int = 900,
    executable: str | None = None,
    timeout: float = 60,
    max_height: int = 16000,
) -> PageVisit:
    """Load a page, optionally evaluate a JS expression (by value), and take a full-page PNG."""
    executable = executable or find_chromium()
    if executable is None:
        raise BrowserError("chromium is not installed (Debian: apt-get install chromium)")
    url = str(url_or_path)
    if "://" not in url:
        url = Path(url).resolve().as_uri()
    # Chromium's helper processes can still be writing the profile when the main one
    # has exited; a leftover temp profile is harmless, a failed check is not.
    with tempfile.TemporaryDirectory(prefix="distillscope-chromium-", ignore_cleanup_errors=True) as profile:
        pipe = _Pipe(executable, profile, width, height)
        try:
            return _visit(pipe, url, evaluate, screenshot, width, timeout, max_height)
        finally:
            pipe.close()


def _visit(
    pipe: _Pipe, url: str, evaluate: str | None, screenshot: bool, width: int, timeout: float, max_height: int
) -> PageVisit:
    target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
    session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Page", "Network"):
        pipe.call(f"{domain}.enable", session=session)
    pipe.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
        session=session,
    )
    pipe.events.clear()
    pipe.call("Page.navigate", {"url": url}, session=session, timeout=timeout)
    if not pipe.wait_for("Page.loadEventFired", timeout):
        raise BrowserError(f"{url} did not finish loading within {timeout:.0f} s")
    result = PageVisit()
    if evaluate is not None:
        answer = pipe.call(
            "Runtime.evaluate",
            {"expression": evaluate, "returnByValue": True},
            session=session,
            timeout=timeout,
        )
        if "exceptionDetails" in answer:
            raise BrowserError(f"evaluating the check failed: {answer['exceptionDetails'].get('text')}")
        result.evaluated = answer.get("result", {}).get("value")
    if screenshot:
        metrics = pipe.call("Page.getLayoutMetrics", session=session)
        content = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
        clip = {
            "x": 0,
            "y": 0,
            "width": width,
            "height": min(float(content.get("height", 900)), max_height),
            "scale": 1,
        }
        shot = pipe.call(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
            session=session,
            timeout=timeout,
        )
        result.screenshot = base64.b64decode(shot["data"])
    # Drain what arrived meanwhile (late console errors, requests).
    while (message := pipe.receive(0.3)) is not None:
        pipe.events.append(message)
    result.console_errors = _console_errors(pipe.events)
    result.network = [
        e["params"]["request"]["url"]
        for e in pipe.events
        if e.get("method") == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:"))
    ]
    return result
