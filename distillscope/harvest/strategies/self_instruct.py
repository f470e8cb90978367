"""Self-instruct expansion (Wang et al. 2022; Stanford Alpaca): seed tasks grown by the teacher.

Round 0 asks the seed instructions themselves (unless told not to). Each later
round sends a few Alpaca-style "list of tasks" prompts to the teacher (through
the harvester's ``ask``, so they are cached and budgeted), each primed with a few
example tasks drawn from the seeds and the instructions made so far; parses the
numbered list it answers; drops unusable lines (too short or long, about
images/files/plots the teacher cannot see) and near-duplicates (ROUGE-L F1 with
``rouge-score``, or MinHash/LSH Jaccard with ``datasketch``, above
``similarity``); and returns the new instructions as the round's queries. It
stops at ``target`` instructions, when the teacher gives nothing new three rounds
running, or when ``ask`` returns no answers (budget spent, Ctrl-C).

Sampling of examples is seeded by round, and helper answers come from the cache
on a resumed run, so replaying the rounds rebuilds the same instructions.

This module must not ask the teacher except through the harvester's ``ask``, so that every helper
prompt is cached, budgeted and counted.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from distillscope.harvest.strategies.base import Ask, Query
from distillscope.records import Exchange, iter_jsonl

PROMPT_HEADER = (
    "You are asked to come up with a set of {n} diverse task instructions. These task instructions "
    "will be given to a language model and we will evaluate the model for completing the "
    "instructions.\n"
    "\n"
    "Here are the requirements:\n"
    "1. Try not to repeat the verb for each instruction to maximize diversity.\n"
    "2. The language used for the instruction also should be diverse. For example, you should "
    "combine questions with imperative instructions.\n"
    "3. The type of instructions should be diverse: open-ended generation, classification, editing, "
    "reasoning, coding, math and so on.\n"
    "4. A language model should be able to complete the instruction. Do not ask for any visual or "
    "audio output, and do not ask it to act in the world.\n"
    "5. The instructions should be in English and 1 to 2 sentences long. Each instruction must be "
    "self-contained.\n"
    "\n"
    "List of {n} tasks:\n"
)

#: Instructions about things a text model cannot see or do (Alpaca's filter).
BLOCKED_WORDS = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps")
BLOCKED_WORDS += ("draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram")
_ITEM = re.compile(r"^\s*(?:\d+\s*[.):]|[-*•])\s*(?:instruction\s*:\s*)?(?P<text>.+?)\s*$", re.IGNORECASE)

Dedup = Literal["rouge", "minhash"]


def read_seed_tasks(path: str | Path) -> list[str]:
    """Seed instructions: JSONL with ``instruction`` (Alpaca's seed_tasks.jsonl) or ``prompt``; text lines."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"seed tasks file {path} does not exist")
    seeds: list[str] = []
    problems: list[str] = []
    for number, record, error in _seed_records(path):
        if error is not None:
            problems.append(f"{path}:{number}: {error}")
            continue
        text = record.get("instruction") or record.get("prompt") if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{path}:{number}: needs a non-empty 'instruction' or 'prompt'")
            continue
        seeds.append(text.strip())
    if problems:
        raise ValueError(f"{len(problems)} malformed seed line(s):\n  " + "\n  ".join(problems[:20]))
    if not seeds:
        raise ValueError(f"{path} holds no seed tasks")
    return seeds


def _seed_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, record, parse error) per non-blank line: JSON lines, or plain text as a prompt."""
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        yield from iter_jsonl(path)
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield number, {"prompt": raw.strip()}, None


def parse_instructions(text: str) -> list[str]:
    """The items of a numbered (or bulleted) list answer, in order.

    The prompt ends inside item N ("N. Instruction:"), so an unnumbered first line
    is that item's text.
    """
    out = []
    for position, line in enumerate(x for x in text.splitlines() if x.strip()):
        match = _ITEM.match(line)
        if match:
            out.append(match.group("text").strip())
        elif position == 0:
            out.append(re.sub(r"^\s*instruction\s*:\s*", "", line, flags=re.IGNORECASE).strip())
    return out


def usable(instruction: str) -> bool:
    words = instruction.split()
    if not 3 <= len(words) <= 150:
        return False
    lowered = instruction.lower()
    if any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in BLOCKED_WORDS):
        return False
    return instruction[0].isascii() and instruction[0].isalnum()


class NearDuplicateFilter:
    """Keeps an instruction only if no kept one is more similar than ``threshold``."""

    def __init__(self, threshold: float = 0.7, method: Dedup = "rouge") -> None:
        if not 0 < threshold <= 1:
            raise ValueError("similarity threshold must be within (0, 1]")
        self.threshold, self.method = threshold, method
        self.kept: list[str] = []
        if method == "rouge":
            from rouge_score import rouge_scorer

            self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        elif method == "minhash":
            from datasketch import MinHashLSH

            self._lsh = MinHashLSH(threshold=threshold, num_perm=128)
        else:
            raise ValueError("dedup must be 'rouge' or 'minhash'")

    def add(self, text: str) -> bool:
        """Keep ``text`` if it is new enough; returns whether it was kept."""
        if self.method == "rouge":
            for other in self.kept:
                if self._scorer.score(other, text)["rougeL"].fmeasure > self.threshold:
                    return False
        else:
            signature = _minhash(text)
            if self._lsh.query(signature):
                return False
            self._lsh.insert(str(len(self.kept)), signature)
        self.kept.append(text)
        return True


def _minhash(text: str) -> Any:
    from datasketch import MinHash

    signature = MinHash(num_perm=128)
    words = re.findall(r"\w+", text.lower())
    for shingle in {" ".join(words[i : i + 2]) for i in range(max(1, len(words) - 1))}:
        signature.update(shingle.encode())
    return signature


class SelfInstructStrategy:
    """Seeds first, then rounds of teacher-generated, filtered, de-duplicated instructions."""

    name = "self-instruct"

    def __init__(
        self,
        seeds: Sequence[str],
        target: int,
        *,
        examples_per_prompt: int = 3,
        tasks_per_prompt: int = 20,
        prompts_per_round: int = 4,
        include_seeds: bool = True,
        similarity: float = 0.7,
        dedup: Dedup = "rouge",
        seed: int = 0,
        max_idle_rounds: int = 3,
        generation_temperature: float = 1.0,
        generation_max_tokens: int = 1024,
        system: str | None = None,
    ) -> None:
        if not seeds:
            raise ValueError("self-instruct needs at least one seed task")
        if target <= 0 or examples_per_prompt <= 0 or prompts_per_round <= 0:
            raise ValueError("target, examples_per_prompt and prompts_per_round must be > 0")
        self.seeds = [s.strip() for s in seeds if s.strip()]
        self.target = target
        self.examples_per_prompt = examples_per_prompt
        self.tasks_per_prompt = max(tasks_per_prompt, examples_per_prompt + 1)
        self.prompts_per_round = prompts_per_round
        self.include_seeds = include_seeds
        self.seed = seed
        self.max_idle_rounds = max_idle_rounds
        self.sampling = {"temperature": generation_temperature, "max_tokens": generation_max_tokens}
        self.system = system
        self.filter = NearDuplicateFilter(similarity, dedup)
        for text in self.seeds:
            self.filter.add(text)
        self.generated: list[str] = []
        self.rejected = {"unusable": 0, "near_duplicate": 0}
        self._idle = 0
        self._ask: Ask | None = None
        self.params = {
            "seeds": len(self.seeds),
            "target": target,
            "similarity": similarity,
            "dedup": dedup,
            "seed": seed,
            "prompts_per_round": prompts_per_round,
        }

    def bind_teacher(self, ask: Ask) -> None:
        self._ask = ask

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.params, "generated": len(self.generated), "rejected": self.rejected}

    def next_round(self, round_index: int, answered: Sequence[Exchange]) -> list[Query]:
        if round_index == 0 and self.include_seeds:
            return [
                Query.user(s, system=self.system, source="self-instruct", kind="seed") for s in self.seeds
            ]
        if len(self.generated) >= self.target or self._idle >= self.max_idle_rounds:
            return []
        if self._ask is None:
            raise RuntimeError("self-instruct needs the teacher: the harvester binds it with bind_teacher()")
        prompts = [self._generation_prompt(round_index, i) for i in range(self.prompts_per_round)]
        answers = self._ask(prompts)
        if all(a is None for a in answers):
            return []  # nothing came back: budget spent, stopped, or the teacher failed
        fresh = self._harvest_answers(answers)
        self._idle = 0 if fresh else self._idle + 1
        return [
            Query.user(text, system=self.system, source="self-instruct", kind="generated", round=round_index)
            for text in fresh
        ]

    def _generation_prompt(self, round_index: int, index: int) -> Query:
        rng = random.Random(f"{self.seed}:{round_index}:{index}")
        pool = self.seeds + self.generated
        examples = rng.sample(pool, k=min(self.examples_per_prompt, len(pool)))
        lines = [PROMPT_HEADER.format(n=self.tasks_per_prompt)]
        lines += [f"{i}. Instruction: {text}" for i, text in enumerate(examples, start=1)]
        lines.append(f"{len(examples) + 1}. Instruction:")
        meta = {"source": "self-instruct", "kind": "generation", "sampling": self.sampling}
        return Query.user("\n".join(lines), **meta)

    def _harvest_answers(self, answers: Sequence[str | None]) -> list[str]:
        fresh: list[str] = []
        for answer in answers:
            for text in parse_instructions(answer or ""):
                if len(self.generated) >= self.target:
                    return fresh
                if not usable(text):
                    self.rejected["unusable"] += 1
                elif not self.filter.add(text):
                    self.rejected["near_duplicate"] += 1
                else:
                    self.generated.append(text)
                    fresh.append(text)
        return fresh
