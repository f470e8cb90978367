"""`distillscope probe identity|hidden-size|equality`: audit an endpoint through its API.

Each command prints a short verdict (stderr) and the full result as JSON (stdout,
or ``--out FILE``). API keys are read from an environment variable by name.

This module must not hold a probe's logic (what to ask, how to judge), and must not take an API key
as an option or print one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from distillscope.clitools import console, fail

probe_app = typer.Typer(
    help="Audit a model endpoint through its OpenAI-compatible API.", no_args_is_help=True
)

URL = typer.Option(..., "--url", help="Base URL of the endpoint (ending in /v1).")
MODEL = typer.Option(None, "--model", help="Model id (default: the first one the endpoint lists).")
KEY_ENV = typer.Option(None, "--key-env", help="Environment variable holding the API key.")
OUT = typer.Option(None, "--out", help="Also write the JSON result to this file.")


def _endpoint(url: str, model: str | None, key_env: str | None) -> Any:
    from distillscope.probe.endpoint import Endpoint

    try:
        return Endpoint.from_env(url, model, key_env)
    except ValueError as exc:
        fail(str(exc))


def _emit(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)


@probe_app.command("identity")
def identity(
    url: str = URL,
    model: str | None = MODEL,
    key_env: str | None = KEY_ENV,
    watch: list[str] = typer.Option(
        None, "--watch", help="A name to flag in answers (repeatable; default: Hugging Face, SmolLM)."
    ),
    question: list[str] = typer.Option(None, "--question", help="A question to ask (repeatable)."),
    out: Path | None = OUT,
) -> None:
    """Ask who the model is and who trained it; flag watched names in the answers."""
    from distillscope.probe.endpoint import ProbeError
    from distillscope.probe.identity import DEFAULT_WATCH_NAMES, QUESTIONS, probe_identity

    endpoint = _endpoint(url, model, key_env)
    try:
        with console.status("asking who trained it"):
            result = probe_identity(
                endpoint, watch_names=watch or DEFAULT_WATCH_NAMES, questions=question or QUESTIONS
            )
    except (ProbeError, ValueError) as exc:
        fail(str(exc))
    for answer in result.answers:
        mark = f"[red]names {', '.join(answer.hits)}[/]" if answer.hits else "[green]no watched name[/]"
        console.print(f"[bold]{answer.question}[/] {mark}\n  {answer.answer!r}", highlight=False)
    _emit(result.to_dict(), out)


@probe_app.command("hidden-size")
def hidden_size(
    url: str = URL,
    model: str | None = MODEL,
    key_env: str | None = KEY_ENV,
    tokenizer: str = typer.Option(
        "smollm2-135m-instruct",
        "--tokenizer",
        help="The endpoint's tokenizer: embedded name or local HF dir.",
    ),
    prompts: int = typer.Option(96, help="Prompts (rows); must exceed the hidden size."),
    tokens: int = typer.Option(96, help="Tokens measured per prompt (columns); must exceed the hidden size."),
    top_logprobs: int = typer.Option(20, help="top_logprobs the endpoint allows (OpenAI: 20)."),
    bias: float = typer.Option(
        8.0, help="Starting logit_bias on the measured tokens (doubled when too small)."
    ),
    concurrency: int = typer.Option(8, help="Requests in flight."),
    out: Path | None = OUT,
) -> None:
    """Estimate the hidden size from the softmax bottleneck (costs prompts x ceil(tokens/(k-1)) queries)."""
    from distillscope.models import ModelNotFoundError, load_tokenizer
    from distillscope.probe.endpoint import ProbeError
    from distillscope.probe.hidden_size import probe_hidden_size

    endpoint = _endpoint(url, model, key_env)
    try:
        tok = load_tokenizer(tokenizer)
        queries = prompts * -(-tokens // max(top_logprobs - 1, 1))
        with console.status(f"collecting log-prob vectors ({queries} queries)"):
            result = probe_hidden_size(
                endpoint,
                tok,
                prompts=prompts,
                tokens=tokens,
                top_logprobs=top_logprobs,
                bias=bias,
                concurrency=concurrency,
            )
    except (ProbeError, ValueError, ModelNotFoundError) as exc:
        fail(str(exc))
    if result.estimate is None:
        console.print(
            f"no clear cliff in the spectrum (steepest ratio {result.gap_ratio:.1f}): the hidden size is at "
            f"least {min(result.prompts, result.tokens) - 1} or the answers are too noisy; add prompts/tokens"
        )
    else:
        console.print(
            f"hidden size ≈ [bold]{result.estimate}[/] "
            f"(cliff {result.gap_ratio:.0f}x, {result.queries} queries)"
        )
    _emit(result.to_dict(), out)


@probe_app.command("equality")
def equality(
    url_a: str = typer.Option(..., "--url-a", help="First endpoint's base URL."),
    url_b: str = typer.Option(..., "--url-b", help="Second endpoint's base URL."),
    model_a: str | None = typer.Option(None, "--model-a"),
    model_b: str | None = typer.Option(None, "--model-b"),
    key_env_a: str | None = typer.Option(None, "--key-env-a"),
    key_env_b: str | None = typer.Option(None, "--key-env-b"),
    prompts: int = typer.Option(12, help="Prompts."),
    samples: int = typer.Option(8, help="Completions sampled per prompt and endpoint."),
    max_tokens: int = typer.Option(8, help="Tokens per completion."),
    permutations: int = typer.Option(999, help="Permutations for the p-value."),
    alpha: float = typer.Option(0.01, help="Significance level for the verdict."),
    out: Path | None = OUT,
) -> None:
    """Test whether two endpoints serve the same model (MMD permutation test; p-value)."""
    from distillscope.probe.endpoint import ProbeError
    from distillscope.probe.equality import probe_equality

    a = _endpoint(url_a, model_a, key_env_a)
    b = _endpoint(url_b, model_b, key_env_b)
    try:
        with console.status("sampling both endpoints"):
            result = probe_equality(
                a, b, prompts=prompts, samples=samples, max_tokens=max_tokens, permutations=permutations
            )
    except (ProbeError, ValueError) as exc:
        fail(str(exc))
    console.print(f"{result.verdict(alpha)}; greedy agreement {result.greedy_agreement:.0%}")
    _emit(result.to_dict(), out)


def register(app: typer.Typer) -> None:
    app.add_typer(probe_app, name="probe")
