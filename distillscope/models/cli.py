"""`distillscope models ...`: prepare the embedded teacher and build layer-subset students.

This module must not download a model (names resolve through
:func:`~distillscope.models.load_model`, which never does) nor pick layers itself:
:func:`~distillscope.models.build_student` does.
"""

from __future__ import annotations

from pathlib import Path

import typer

from distillscope.clitools import console, fail

models_app = typer.Typer(help="Prepare the embedded teacher and build students.", no_args_is_help=True)


@models_app.command("prepare")
def prepare() -> None:
    """Convert the embedded SmolLM2 GGUF to a safetensors cache (once; later runs are instant)."""
    from distillscope.models import ModelNotFoundError, embedded_teacher_dir

    try:
        with console.status("Converting SmolLM2-135M-Instruct (GGUF -> safetensors, ~30 s once)"):
            path = embedded_teacher_dir()
    except ModelNotFoundError as exc:
        fail(str(exc))
    typer.echo(str(path))


@models_app.command("build-student")
def build_student_command(
    out: Path = typer.Argument(..., help="Directory to write the student to (Hugging Face format)."),
    teacher: str = typer.Option(
        "smollm2-135m-instruct", help="Embedded teacher name or a local Hugging Face model directory."
    ),
    layers: str = typer.Option(
        "auto",
        help="Teacher layers to keep: 'auto:N' (first and last, plus the N-2 layers that turn the hidden "
        "state most on calibration text), 'auto' (auto:N with half the layers, the default), "
        "'every-other', 'first:N', 'spread:N', or indices like '0,2,4'.",
    ),
    calibration: Path = typer.Option(
        None,
        help="auto:N: calibration text, one prompt a line (.txt) or an exchanges file; "
        "default: 32 reasoning-gym questions.",
    ),
) -> None:
    """Make a smaller student by keeping a subset of the teacher's layers (weights copied)."""
    from distillscope.config import StudentSpec
    from distillscope.models import ModelNotFoundError, build_student, load_model

    try:
        spec = StudentSpec(layers)
        texts = _calibration(calibration) if calibration is not None else None
        model, tokenizer = load_model(teacher)
        with console.status("measuring layer redundancy" if spec.is_auto else "copying layers"):
            student = build_student(model, spec, tokenizer, texts)
    except (ModelNotFoundError, ValueError) as exc:
        fail(str(exc))
    student.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    kept = student.distillscope_layers
    console.print(
        f"student with {len(kept)} of {model.config.num_hidden_layers} layers {kept} "
        f"({sum(p.numel() for p in student.parameters()) / 1e6:.1f}M parameters) -> {out}"
    )


def _calibration(path: Path) -> list[str]:
    if not path.exists():
        raise ValueError(f"calibration file {path} does not exist")
    if path.suffix == ".txt":
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        from distillscope.exchanges import calibration_texts, load_dataset

        texts = calibration_texts(load_dataset(path), n=64)
    if not texts:
        raise ValueError(f"calibration file {path} holds no text")
    return texts


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
