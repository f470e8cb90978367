"""`distillscope serve`: the OpenAI-compatible server on a local model or in front of an upstream URL.

Only option parsing lives here: the options become a
:class:`~distillscope.serving.ServeSettings`, and :func:`~distillscope.serving.build_app`
assembles backend, gateway and watermark hook. Heavy imports stay inside the
command so that ``distillscope --help`` stays fast.

This module must not assemble the stack itself, and must not print an upstream URL unredacted (it
shows ``redact_url`` of it).
"""

from __future__ import annotations

import typer

from distillscope.clitools import console, fail, settings_options
from distillscope.errors import ConfigError
from distillscope.serving import ServeSettings


def serve(settings: ServeSettings) -> None:
    """Serve an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models, /health).

    With no options: the embedded SmolLM2-135M-Instruct on http://127.0.0.1:8000/v1, open mode
    (no authentication, loopback only). Ctrl-C or SIGTERM finishes in-flight requests, then exits.
    """
    from distillscope.server.runner import run_forever
    from distillscope.server.urls import redact_url
    from distillscope.serving import build_app

    try:
        upstream = settings.upstream
        shown = redact_url(upstream) if upstream else settings.model or "the embedded teacher"
        with console.status(f"loading {shown}"):
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
        run_forever(built.app, settings.host, settings.port, log_level=settings.log_level, on_started=started)
    except OSError as exc:
        fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")


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
    app.command("serve")(settings_options(ServeSettings, serve))
