"""`distillscope serve`: the OpenAI-compatible server on a local model or in front of an upstream URL.

Only option parsing and wiring live here (backend, gateway, watermark hook); heavy
imports stay inside the command so that ``distillscope --help`` stays fast.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

import typer

from distillscope.clitools import console, fail

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Local backend: the embedded teacher ('smollm2-135m-instruct', the default) or a local Hugging "
        "Face model directory. With --upstream: the upstream's model id (default: the first it lists).",
    ),
    served_model_name: str = typer.Option(
        None,
        "--served-model-name",
        help="The model id clients ask for and /v1/models lists (default: 'smollm2-135m-instruct' for the "
        "embedded teacher, else the model directory's name, or the upstream's model id).",
    ),
    upstream: str = typer.Option(
        None,
        "--upstream",
        help="Forward to this OpenAI-compatible base URL (e.g. http://host:8000/v1), no local model.",
    ),
    upstream_key_env: str = typer.Option(
        "OPENAI_API_KEY",
        "--upstream-key-env",
        help="Environment variable holding the upstream's API key (sent only upstream, never logged).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Open mode allows loopback only."),
    port: int = typer.Option(8000, "--port", "-p", help="Port to bind (0 picks a free one)."),
    max_batch_size: int = typer.Option(
        32, "--max-batch-size", min=1, help="Local backend: most sequences decoded together in one step."
    ),
    threads: int = typer.Option(
        None,
        "--threads",
        min=1,
        help="Local backend: torch threads of the generation thread (default: torch's). 1 is often faster "
        "for small models on a busy CPU.",
    ),
    open_mode: bool = typer.Option(
        False,
        "--open",
        help="No authentication (everyone is account 'local'); local use only. This is also what runs when "
        "neither --db nor --policy is given.",
    ),
    db: str = typer.Option(
        None,
        "--db",
        help="Guard: keys and exchange log in this store (a SQLite path, sqlite:///path.db or postgresql://...).",
    ),
    policy: str = typer.Option(
        None, "--policy", help="Guard: policy file (throttle / strip logprobs / block)."
    ),
    watermark: str = typer.Option(
        None,
        "--watermark",
        help="Watermark config file: keyed green-list watermark per account (local backend).",
    ),
    log_jsonl: str = typer.Option(
        None, "--log-jsonl", help="Open mode: append every exchange to this JSONL file (no guard needed)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level (debug, info, warning)."),
) -> None:
    """Serve an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models, /health).

    With no options: the embedded SmolLM2-135M-Instruct on http://127.0.0.1:8000/v1, open mode
    (no authentication, loopback only). Ctrl-C or SIGTERM finishes in-flight requests, then exits.
    """
    guarded = db is not None or policy is not None
    if (open_mode or not guarded) and not _is_loopback(host):
        fail(
            f"open mode serves without authentication, so it binds to loopback only (not {host!r}); "
            "pass --db (the guard: API keys and an exchange log) to serve on other addresses"
        )
    gateway = _gateway(db, policy, open_mode, log_jsonl)
    processors_for = _watermark_hook(watermark)
    backend, name = _backend(model, served_model_name, upstream, upstream_key_env, max_batch_size, threads)
    if processors_for is not None and upstream:
        console.print(
            "[yellow]warning:[/] --watermark applies to the local backend only; upstream ignores it"
        )

    from distillscope.server.app import create_app
    from distillscope.server.runner import run_forever

    app = create_app(backend, model_name=name, gateway=gateway, logits_processors_for=processors_for)
    mode = "guarded (API keys required)" if guarded and not open_mode else "open (no authentication)"

    def started(base_url: str) -> None:
        console.print(
            f"[bold green]serving[/] {name!r} at [bold]{base_url}[/] — mode: {mode}", soft_wrap=True
        )
        if not guarded:
            console.print("open mode: loopback only; pass --db to require API keys and log exchanges")
        console.print(_snippet(base_url, name), highlight=False, markup=False, soft_wrap=True)
        console.print("Ctrl-C finishes in-flight requests and exits.")

    try:
        run_forever(app, host, port, log_level=log_level, on_started=started)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _gateway(db: str | None, policy: str | None, open_mode: bool, log_jsonl: str | None) -> Any:
    if db is None and policy is None:
        from distillscope.server.gateway import OpenGateway

        return OpenGateway(log_path=log_jsonl)
    try:
        from distillscope.guard.gateway import build_gateway
    except ImportError:
        fail("--db/--policy need the guard, which is not built yet (issue 5)")
    try:
        return build_gateway(db, policy, open_mode)
    except (ValueError, OSError) as exc:
        fail(f"cannot set up the guard: {exc}")


def _watermark_hook(path: str | None) -> Any:
    if path is None:
        return None
    try:
        from distillscope.watermark.config import WatermarkConfig
        from distillscope.watermark.processor import processors_for_account
    except ImportError:
        fail("--watermark needs the watermark component, which is not built yet (issue 7)")
    try:
        config = WatermarkConfig.from_file(path)
    except (ValueError, OSError) as exc:
        fail(f"cannot read the watermark config {path}: {exc}")

    def processors_for(account: str) -> list[Any]:
        return processors_for_account(config, account)

    return processors_for


def _backend(
    model: str | None,
    served: str | None,
    upstream: str | None,
    key_env: str,
    max_batch_size: int,
    threads: int | None = None,
) -> tuple[Any, str]:
    if upstream:
        import asyncio

        import httpx

        from distillscope.server.backends.upstream import UpstreamBackend, discover_model

        key = os.environ.get(key_env) or None
        if model is None:
            try:
                model = asyncio.run(discover_model(upstream, key))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                fail(f"cannot list the models of {upstream} (name one with --model): {exc}")
        return UpstreamBackend(upstream, upstream_model=model, api_key=key), served or model

    from distillscope.models import EMBEDDED_ALIASES, ModelNotFoundError, resolve_model_path

    if model is not None and model.lower() not in EMBEDDED_ALIASES:
        try:  # before importing torch, so a typo fails in a blink
            resolve_model_path(model)
        except ModelNotFoundError as exc:
            fail(str(exc))
    from distillscope.server.backends.local import LocalBackend, default_model_name

    try:
        with console.status(f"loading {model or 'the embedded teacher'}"):
            backend = LocalBackend.from_model_path(model, max_batch_size=max_batch_size, threads=threads)
    except (ModelNotFoundError, OSError, ValueError) as exc:
        fail(str(exc))
    return backend, served or default_model_name(model)


def _snippet(base_url: str, name: str) -> str:
    return (
        "Try it:\n"
        f"  curl {base_url}/chat/completions -H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"model": "{name}", "messages": [{{"role": "user", "content": '
        '"What is the capital of France?"}]}\'\n'
        "  python -c \"import openai; c = openai.OpenAI(base_url='" + base_url + "', api_key='local'); "
        "r = c.chat.completions.create(model='" + name + "', messages=[{'role': 'user', 'content': "
        "'What is the capital of France?'}], logprobs=True, top_logprobs=5); "
        'print(r.choices[0].message.content)"'
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
