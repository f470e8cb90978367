"""`distillscope serve`: the OpenAI-compatible server on a local model or in front of an upstream URL.

Only option parsing lives here: the options become a
:class:`~distillscope.serving.ServeSettings`, and :func:`~distillscope.serving.build_app`
assembles backend, gateway and watermark hook. Heavy imports stay inside the
command so that ``distillscope --help`` stays fast.
"""

from __future__ import annotations

import typer

from distillscope.clitools import console, fail
from distillscope.errors import ConfigError


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
    from distillscope.server.runner import run_forever
    from distillscope.serving import ServeSettings, build_app

    settings = ServeSettings(
        model=model,
        served_model_name=served_model_name,
        upstream=upstream,
        upstream_key_env=upstream_key_env,
        host=host,
        port=port,
        max_batch_size=max_batch_size,
        threads=threads,
        open_mode=open_mode,
        db=db,
        policy=policy,
        watermark=watermark,
        log_jsonl=log_jsonl,
        log_level=log_level,
    )

    try:
        with console.status(f"loading {upstream or model or 'the embedded teacher'}"):
            built = build_app(settings)
    except ConfigError as exc:
        fail(str(exc))

    def started(base_url: str) -> None:
        console.print(
            f"[bold green]serving[/] {built.model_name!r} at [bold]{base_url}[/] — mode: {settings.mode}",
            soft_wrap=True,
        )
        if not settings.guarded:
            console.print("open mode: loopback only; pass --db to require API keys and log exchanges")
        console.print(_snippet(base_url, built.model_name), highlight=False, markup=False, soft_wrap=True)
        console.print("Ctrl-C finishes in-flight requests and exits.")

    try:
        run_forever(built.app, host, port, log_level=log_level, on_started=started)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


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
