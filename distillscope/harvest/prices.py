"""The price table: USD per million input and output tokens, per model.

Defaults ship in ``prices.json`` next to this module; ``--prices FILE`` (JSON or
TOML, ``{"models": {NAME: {"input": X, "output": Y}}}`` or the bare mapping)
overrides or extends them. A model matches its exact name, then the longest
listed prefix. An unknown model has no price: the cost is then unknown, and a
``--max-cost`` budget refuses to start rather than guess. No I/O beyond reading
the table.

Batch APIs (OpenAI Batch, Anthropic Message Batches) bill half the list price:
:meth:`Price.batch` is that price, or an entry's own ``batch_input`` /
``batch_output`` when listed.

This module must not guess: a model the table does not list has no price (``None``), never a default
one.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    batch_input: float | None = None
    batch_output: float | None = None

    def __post_init__(self) -> None:
        values = (self.input, self.output, self.batch_input, self.batch_output)
        if any(v is not None and v < 0 for v in values):
            raise ValueError("prices must be >= 0")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000

    def batch(self) -> Price:
        """The price through a provider's batch API (half the list price unless listed)."""
        return Price(
            self.input * BATCH_DISCOUNT if self.batch_input is None else self.batch_input,
            self.output * BATCH_DISCOUNT if self.batch_output is None else self.batch_output,
        )

    def as_dict(self) -> dict[str, float]:
        return {"input": self.input, "output": self.output}


#: What the providers' batch APIs charge, as a fraction of the list price.
BATCH_DISCOUNT = 0.5


FREE = Price(0.0, 0.0)


class PriceTable:
    """Model name -> :class:`Price`, with longest-prefix matching."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = dict(prices)

    @classmethod
    def load(cls, override: str | Path | None = None) -> PriceTable:
        """The packaged defaults, updated with ``override`` when given."""
        packaged = resources.files("distillscope.harvest").joinpath("prices.json").read_text()
        prices = _parse(json.loads(packaged), "packaged prices.json")
        if override is not None:
            prices.update(_parse(_read(Path(override)), str(override)))
        return cls(prices)

    def lookup(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        matches = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(matches, key=len)] if matches else None

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {name: p.as_dict() for name, p in self.prices.items()}


def _read(path: Path) -> Any:
    if not path.exists():
        raise ValueError(f"price file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(
            f"price file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from exc


def _parse(data: Any, source: str) -> dict[str, Price]:
    table = data.get("models", data) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"{source}: expected {{'models': {{NAME: {{'input': X, 'output': Y}}}}}}")
    out = {}
    for name, entry in table.items():
        if name.startswith("_"):
            continue
        if not isinstance(entry, dict) or not {"input", "output"} <= entry.keys():
            raise ValueError(
                f"{source}: model {name!r} needs numeric 'input' and 'output' (USD per 1M tokens)"
            )
        try:
            batch = [entry.get(k) for k in ("batch_input", "batch_output")]
            out[name] = Price(
                float(entry["input"]),
                float(entry["output"]),
                *(None if b is None else float(b) for b in batch),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: model {name!r}: {exc}") from exc
    return out
