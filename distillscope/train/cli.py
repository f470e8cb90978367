"""`distillscope train`: train a student on an exchanges dataset (sequence KD, top-k KD, mixed, on-policy)."""

from __future__ import annotations

from pathlib import Path

import typer

from distillscope.clitools import console, fail


def train_command(
    dataset: Path = typer.Argument(..., help="Harvest output dir, or a .parquet/.jsonl exchanges file."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the student (Hugging Face format)."),
    method: str = typer.Option(
        "sft",
        help="sft (sequence KD) | topk-kd (API top_logprobs) | mixed | on-policy (the student samples, "
        "the teacher scores its samples through /v1/completions with echo + logprobs).",
    ),
    alpha: float = typer.Option(
        0.5,
        help="mixed: weight of top-k KD; on-policy: weight of the divergence (1 - alpha: SFT on answers).",
    ),
    temperature: float = typer.Option(1.0, help="KD temperature (loss scaled by T^2)."),
    renormalize: bool = typer.Option(False, help="Renormalise over the top-k instead of a tail bucket."),
    teacher: str = typer.Option("smollm2-135m-instruct", help="Model the layer-subset student is cut from."),
    student: str = typer.Option(None, help="Any local Hugging Face causal LM directory as the student."),
    student_layers: str = typer.Option(
        "every-other",
        help="Teacher layers to keep: every-other, first:N, spread:N, 0,2,4, auto:N (measured).",
    ),
    lora: bool = typer.Option(False, help="Train LoRA adapters (peft) instead of all weights."),
    lora_r: int = typer.Option(8, help="LoRA rank."),
    lora_alpha: int = typer.Option(16, help="LoRA alpha."),
    learning_rate: float = typer.Option(5e-5, "--lr", help="Peak learning rate (AdamW, linear decay)."),
    batch_size: int = typer.Option(8, help="Sequences per step."),
    grad_accum: int = typer.Option(1, help="Gradient accumulation steps."),
    max_seq_len: int = typer.Option(256, help="Prompt + answer tokens per sequence."),
    epochs: float = typer.Option(2.0, help="Passes over the data (capped by --max-steps)."),
    max_steps: int = typer.Option(300, help="Hard cap on optimizer steps."),
    limit: int = typer.Option(None, help="Use only the first N exchanges (by harvest time)."),
    seed: int = typer.Option(0, help="Seed of the data order and initialisation."),
    save_every: int = typer.Option(50, help="Checkpoint every N steps."),
    resume: bool = typer.Option(False, help="Continue from the checkpoint in --out."),
    stop_after: int = typer.Option(None, help="Stop (with a checkpoint) after this step; --resume goes on."),
    keep_checkpoints: bool = typer.Option(False, help="Keep the checkpoint after a finished run."),
    threads: int = typer.Option(None, help="CPU threads for torch (default: all cores, at most 8)."),
    teacher_url: str = typer.Option(
        None,
        help="on-policy: the teacher's OpenAI-compatible base URL (default: serve --teacher on loopback).",
    ),
    teacher_model: str = typer.Option(None, help="on-policy: model name sent to --teacher-url."),
    teacher_template: str = typer.Option(
        None, help="on-policy: tokenizer dir whose chat template renders prompts for a URL teacher."
    ),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="on-policy: env variable holding the API key."),
    score_top_k: int = typer.Option(5, help="on-policy: logprobs k of each scoring call (OpenAI allows 5)."),
    sample_tokens: int = typer.Option(48, help="on-policy: longest student sample, in tokens."),
    sample_temperature: float = typer.Option(1.0, help="on-policy: the student's sampling temperature."),
    divergence: str = typer.Option("reverse-kl", help="on-policy: reverse-kl | forward-kl | jsd."),
    beta: float = typer.Option(0.5, help="on-policy: the jsd mixture weight."),
    max_cost: float = typer.Option(
        None, help="on-policy: USD cap on teacher spend (answers trained on + scoring); plans the steps."
    ),
    price_model: str = typer.Option(None, help="on-policy: price scoring calls as this model of the table."),
    prices: Path = typer.Option(None, help="on-policy: price table override (JSON/TOML, USD per M tokens)."),
    rpm: float = typer.Option(None, help="on-policy: teacher requests per minute."),
    scoring_cache: Path = typer.Option(
        None, help="on-policy: SQLite cache of scoring calls (default in --out)."
    ),
) -> None:
    """Train a student on a teacher's exchanges; writes safetensors, tokenizer and a model card."""
    from distillscope.models import ModelNotFoundError
    from distillscope.train.checkpoint import CheckpointError
    from distillscope.train.data import DatasetError
    from distillscope.train.loop import TrainingInterrupted
    from distillscope.train.run import train_student
    from distillscope.train.scorer import ScoringBudgetExhausted, ScoringUnsupported
    from distillscope.train.settings import TrainSettings

    try:
        settings = TrainSettings(
            dataset=dataset, out=out, method=method, alpha=alpha, temperature=temperature,
            renormalize=renormalize, teacher=teacher, student=student, student_layers=student_layers,
            lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, learning_rate=learning_rate,
            batch_size=batch_size, grad_accum=grad_accum, max_seq_len=max_seq_len, epochs=epochs,
            max_steps=max_steps, limit=limit, seed=seed, save_every=save_every, resume=resume,
            stop_after=stop_after, keep_checkpoints=keep_checkpoints, threads=threads,
            teacher_url=teacher_url, teacher_model=teacher_model, teacher_template=teacher_template,
            api_key_env=api_key_env,
            score_top_k=score_top_k, sample_tokens=sample_tokens, sample_temperature=sample_temperature,
            divergence=divergence, beta=beta, max_cost=max_cost, price_model=price_model,
            prices_file=prices, rpm=rpm, scoring_cache=scoring_cache,
        )  # fmt: skip
        path = train_student(settings)
    except TrainingInterrupted as exc:
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(130) from None
    except (
        DatasetError, CheckpointError, ModelNotFoundError, ValueError, ScoringUnsupported,
        ScoringBudgetExhausted,
    ) as exc:  # fmt: skip
        fail(str(exc))
    console.print(f"student -> {path}")
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
