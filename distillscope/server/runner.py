"""Run the server: in a background thread on a free loopback port, or in the foreground.

- :func:`serve_in_thread` runs any ASGI app with uvicorn in a daemon thread and
  yields its base URL (``http://127.0.0.1:PORT/v1``); :func:`distillscope.serving.serve`
  (the one way to stand up a whole server, local model or upstream, open or guarded)
  runs its app with it.
- :func:`run_forever` runs an app in the foreground with uvicorn's graceful
  shutdown: Ctrl-C or SIGTERM stops accepting, lets in-flight requests finish,
  then the app's lifespan drains the backend and calls ``gateway.shutdown()``.

This module must not contain request handling or model code, and must not assemble
an app (that is :mod:`distillscope.serving`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

#: Seconds uvicorn waits for in-flight requests on shutdown before closing them.
GRACEFUL_SHUTDOWN_S = 60


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: with proto 0 asyncio never sets TCP_NODELAY on accepted
    # connections, and keep-alive answers stall ~40 ms on delayed ACKs.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _bound_config(app: Any, host: str, port: int, log_level: str) -> tuple[socket.socket, int, Any]:
    """A listening socket, its port, and the uvicorn config both runners share."""
    import uvicorn

    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=actual_port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # h11, not httptools: httptools answers a request with bytes it deems invalid (a DEL in a
        # header) with its own plain-text 400 before the app sees it, so it would leave no log row.
        http="h11",
    )
    return sock, actual_port, config


def base_url_for(host: str, port: int) -> str:
    """The OpenAI base URL (ending in ``/v1``) of a server bound to ``host:port``."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/v1"


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log_level: str = "warning",
    startup_timeout: float = 120.0,
) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread; yield its base URL ``http://HOST:PORT/v1``.

    ``port=0`` picks a free port. The app's lifespan runs (startup before the URL
    is yielded, shutdown when the block exits), so backends and gateways start and
    drain exactly as in the foreground server.
    """
    import uvicorn

    sock, actual_port, config = _bound_config(app, host, port, log_level)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{actual_port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {startup_timeout:.0f} s")
            time.sleep(0.02)
        yield base_url_for(host, actual_port)
    finally:
        server.should_exit = True
        thread.join(timeout=GRACEFUL_SHUTDOWN_S + 30)
        sock.close()


def run_forever(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` in the foreground until Ctrl-C / SIGTERM, then shut down gracefully.

    uvicorn stops accepting connections, waits up to ``GRACEFUL_SHUTDOWN_S`` for
    in-flight requests (streams included), then runs the lifespan shutdown, which
    drains the backend and flushes the gateway. ``on_started`` gets the base URL
    once the socket listens.
    """
    import asyncio

    sock, actual_port, config = _bound_config(app, host, port, log_level)
    server = _QuietExitServer(config)

    async def _main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started and on_started is not None:
            on_started(base_url_for(host, actual_port))
        await task

    try:
        # uvicorn's own loop choice: uvloop when installed (a little less CPU per request).
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(_main())
    finally:
        sock.close()


def _quiet_exit_server_class() -> type:
    import signal

    import uvicorn

    class QuietExitServer(uvicorn.Server):
        """uvicorn's server, minus re-raising the caught signal after a clean, graceful shutdown.

        uvicorn re-raises SIGINT/SIGTERM once drained, which turns a clean exit into
        status 130/143 and a KeyboardInterrupt traceback; a drained server should exit 0.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return QuietExitServer


def _QuietExitServer(config: Any) -> Any:  # noqa: N802 - reads like the class it builds
    return _quiet_exit_server_class()(config)
