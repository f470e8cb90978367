"""Radioactivity under adaptive attackers: one command per scenario, p-values of harvesters and controls.

Each scenario trains a suspect student on a harvest changed the way an attacker
who tries to scrub the watermark would change it, then reads the suspect on the
answers the harvesting accounts were served (reading mode, fresh seeds: the
provider has these in its exchange log) and reports, per scenario:

- the p-value of each harvesting account's key (exact binomial over
  de-duplicated (seed, prediction) pairs; Holm over the harvesting accounts and
  3 bystander accounts that never harvested),
- 20 unused control keys (raw p-values, the count below 0.05 and the smallest
  one Holm-adjusted over the 20: under the null about 1 in 20 is below 0.05),
- the untrained suspect read on the same texts (a negative control on real data).

Scenarios (``--scenario``):

  pure        our answers are all the student's data (delta 4): the reference
  clean       negative control: the student learns the unwatermarked teacher's
              answers to the same prompts
  mixed10     our answers are 10% of the training tokens, the rest the
  mixed5      unwatermarked teacher's answers to other prompts (5%); 2 epochs, so
              each of our answers is seen half as often as in ``pure``
  paraphrase  every harvested answer rewritten by the unwatermarked teacher first
  delta3      the watermark at delta 3 / 2 (the harvest is regenerated)
  delta2
  small       a 10-layer student (redundancy-chosen layers, ``auto:10``) instead of a
              30-layer copy; read in reading mode and black-box with sampling
  spread      the harvest spread over 16 accounts, 1 answer each: each key alone
              and the pooled test (every text under its own account's key)

The teacher is SmolLM2-135M-Instruct; answers are generated offline with the
server's own watermark processor (``processor_for_key``, per-account keys,
gamma 0.25, lefthash, width 1, temperature 0.7) -- ``bench/watermark.py``
shows the same path through the real server and guard. The suspect starts as a
copy of all 30 teacher layers (an open model fine-tuned on API answers) and is
trained with ``distillscope.train`` (SFT). Every stage is cached in ``--out``
(rerun to resume); results go to ``--out/results/<scenario>.json`` and
``docs/evidence/watermark/radioactivity-<scenario>.json``.

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python bench/radioactivity.py --scenario mixed10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from watermark import TEMPLATES, TOPICS, log  # noqa: E402  (bench/watermark.py: the same kind of prompts)

#: In order of priority (``--scenario all`` runs them in this order; mixed5 costs the most).
SCENARIOS = ["pure", "clean", "mixed10", "paraphrase", "delta3", "delta2", "small", "spread", "mixed5"]
#: The large mixed sets train 2 epochs, not --epochs: each watermarked answer is seen half as often
#: as in ``pure`` (harder for detection), and the run fits a shared CPU.
MIXED_EPOCHS = 2.0
#: Training steps between checkpoints of a suspect (a killed run resumes from the last one).
CHECKPOINT_EVERY = 10
HARVESTERS = ["attacker-1", "attacker-2"]
BYSTANDERS = ["bystander-1", "bystander-2", "bystander-3"]
INTERNAL = "internal"
MORE_TOPICS = [
    "tornadoes",
    "penguins",
    "the Great Wall of China",
    "batteries",
    "yoga",
    "the Olympic Games",
    "whales",
    "bridges",
    "the brain",
    "rice farming",
    "airplanes",
    "cheese",
    "lightning",
    "the Amazon rainforest",
    "ancient Egypt",
    "telescopes",
    "mushrooms",
    "the Renaissance",
    "submarines",
    "wind turbines",
    "coral reefs",
    "the periodic table",
    "jazz",
    "elephants",
    "photosynthesis in algae",
    "the metric system",
    "trains",
    "volleyball",
    "owls",
    "paper",
    "glass",
    "the Silk Road",
    "satellites",
    "hurricanes",
    "ants",
    "the alphabet",
    "clocks",
    "salt",
    "the Milky Way",
    "rivers",
    "vitamins",
    "bamboo",
    "the telephone",
    "origami",
    "snow",
    "dinosaurs",
    "cotton",
    "maps",
    "the Sahara",
    "lighthouses",
    "sharks",
    "windmills",
    "soap",
    "kites",
    "the Arctic",
    "compost",
    "mirrors",
    "chocolate",
    "magnets",
    "poetry",
]
MORE_TEMPLATES = [
    "Tell me briefly how {} works.",
    "What is the history of {} in a few sentences?",
    "List two pros and two cons of {}.",
    "How would you explain {} to a classmate?",
    "What is a common misconception about {}?",
    "Write three short sentences about {}.",
]


def memory() -> str:
    """This process's resident memory now and at its peak (Linux), for the stage logs."""
    import resource

    pages = int(Path("/proc/self/statm").read_text().split()[1]) if Path("/proc/self/statm").exists() else 0
    now = pages * os.sysconf("SC_PAGE_SIZE") / 2**30
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return f"RSS {now:.2f} GiB, peak {peak:.2f} GiB"


def prompt_pool() -> list[str]:
    """1,200 prompts of one kind, in a fixed random order: the harvest takes the first ones."""
    prompts = [t.format(topic) for topic in [*TOPICS, *MORE_TOPICS] for t in [*TEMPLATES, *MORE_TEMPLATES]]
    random.Random(17).shuffle(prompts)
    return prompts


# -- stages (each cached in --out) ---------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from distillscope.models import resolve_model_path

        self.args = args
        self.out: Path = args.out
        (self.out / "data").mkdir(parents=True, exist_ok=True)
        self.vocab = json.loads((resolve_model_path(None) / "config.json").read_text())["vocab_size"]
        self._teacher: Any = None
        self.prompts = prompt_pool()
        self.harvest_prompts = self.prompts[: len(HARVESTERS) * args.per_account]
        # the bystanders' own (never harvested) questions: the last ones, never used as filler
        self.bystander_prompts = self.prompts[-len(BYSTANDERS) * args.per_account :]
        self.filler_prompts = self.prompts[len(self.harvest_prompts) : -len(self.bystander_prompts)]

    # config and models

    def config(self, delta: float) -> Any:
        from distillscope.watermark.config import WatermarkSettings

        secret = self.out / "watermark.secret"
        if not secret.exists():
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        path = self.out / f"watermark-d{delta:g}.toml"
        path.write_text(
            "[watermark]\nmode = 'per-account'\ngamma = 0.25\n"
            f"delta = {delta}\ncontext_width = 1\nseeding_scheme = 'lefthash'\n"
            f"secret_file = 'watermark.secret'\nexempt_accounts = ['{INTERNAL}']\n"
        )
        return WatermarkSettings.from_file(path)

    def release_teacher(self) -> None:
        """Drop the generating teacher before a suspect is trained: ~0.6 GiB less at the peak."""
        import gc

        self._teacher = None
        gc.collect()

    def teacher(self) -> tuple[Any, Any]:
        if self._teacher is None:
            from distillscope.models import load_model

            self._teacher = load_model()
        return self._teacher

    # data

    def answers(self, account: str, prompts: list[str], delta: float | None, seed: int) -> list[Any]:
        """The teacher's answers to ``prompts`` as served to ``account`` (delta None: unwatermarked)."""
        from distillscope.models.generate import generate
        from distillscope.models.runtime import prompt_ids
        from distillscope.records import Exchange, new_exchange_id
        from distillscope.watermark.processor import processor_for_key

        model, tokenizer = self.teacher()
        processors = []
        if delta is not None:
            config = self.config(delta)
            processors = [processor_for_key(config, config.key_for(account))]
        messages = [[{"role": "user", "content": p}] for p in prompts]
        ids = [prompt_ids(tokenizer, m) for m in messages]
        out = generate(
            model,
            tokenizer,
            ids,
            max_new_tokens=self.args.max_new_tokens,
            batch_size=16,
            processors=processors,
            do_sample=True,
            temperature=0.7,
            seed=seed,
        )
        return [
            Exchange(
                id=new_exchange_id(),
                ts=time.time(),
                account=account,
                messages=m,
                response_text=tokenizer.decode(a.ids, skip_special_tokens=True),
                finish_reason=a.finish_reason,
                prompt_tokens=a.prompt_tokens,
                completion_tokens=len(a.ids),
                provenance={"watermark_delta": delta, "temperature": 0.7, "bench": "radioactivity"},
            )
            for m, a in zip(messages, out, strict=True)
        ]

    def harvest(self, delta: float, accounts: list[str] | None = None, name: str | None = None) -> Path:
        """Each harvesting account's answers to its share of the harvest prompts, at ``delta``."""
        from distillscope.records import write_jsonl

        accounts = accounts or HARVESTERS
        path = self.out / "data" / f"{name or f'harvest-d{delta:g}'}.jsonl"
        if path.exists():
            return path
        per = len(self.harvest_prompts) // len(accounts)
        if per < 1:
            raise SystemExit(
                f"{len(accounts)} accounts for {len(self.harvest_prompts)} prompts: raise --per-account"
            )
        rows = []
        for i, account in enumerate(accounts):
            log(f"harvest d{delta:g}: {account} asks {per} prompts")
            rows += self.answers(account, self.harvest_prompts[i * per : (i + 1) * per], delta, seed=i)
        write_jsonl(rows, path)
        return path

    def bystanders(self, delta: float) -> Path:
        """What the bystander accounts (who never harvested) were served at ``delta``: own-text controls."""
        from distillscope.records import write_jsonl

        path = self.out / "data" / f"bystanders-d{delta:g}.jsonl"
        if path.exists():
            return path
        per = self.args.per_account
        rows = []
        for i, account in enumerate(BYSTANDERS):
            log(f"bystanders d{delta:g}: {account} asks {per} prompts of its own")
            own = self.bystander_prompts[i * per : (i + 1) * per]
            rows += self.answers(account, own, delta, seed=200 + i)
        write_jsonl(rows, path)
        return path

    def clean(self) -> Path:
        """The unwatermarked teacher's answers to the harvest prompts (the internal account)."""
        from distillscope.records import write_jsonl

        path = self.out / "data" / "clean.jsonl"
        if not path.exists():
            log(f"clean: {len(self.harvest_prompts)} unwatermarked answers")
            write_jsonl(self.answers(INTERNAL, self.harvest_prompts, None, seed=100), path)
        return path

    def filler(self, tokens_needed: float) -> list[Any]:
        """Unwatermarked answers to the other prompts, generated in chunks until they hold enough tokens."""
        from distillscope.records import read_exchanges, write_jsonl

        path = self.out / "data" / "filler.jsonl"
        rows = read_exchanges(path) if path.exists() else []
        while sum(r.completion_tokens or 0 for r in rows) < tokens_needed * 1.02:
            start = len(rows)
            if start >= len(self.filler_prompts):
                raise SystemExit(f"only {len(self.filler_prompts)} filler prompts: lower --per-account")
            chunk = self.filler_prompts[start : start + 64]
            have = sum(r.completion_tokens or 0 for r in rows)
            log(f"filler: answers {start + 1}-{start + len(chunk)} ({have} of {tokens_needed:.0f} tokens)")
            rows += self.answers(INTERNAL, chunk, None, seed=1000 + start)
            write_jsonl(rows, path)
        return rows

    # students and readings

    def train(
        self,
        name: str,
        dataset: Path,
        layers: str | None = None,
        lr: float | None = None,
        epochs: float | None = None,
    ) -> Path:
        from distillscope.train import TrainSettings, train_student
        from distillscope.train.checkpoint import STATE_FILE, checkpoint_dir

        target = self.out / "students" / name
        if (target / "config.json").exists():
            return target
        self.release_teacher()
        settings = TrainSettings(
            dataset=dataset,
            out=target,
            method="sft",
            student_layers=layers or self.args.student_layers,
            learning_rate=lr or self.args.lr,
            epochs=epochs or self.args.epochs,
            max_steps=100_000,
            batch_size=8,
            max_seq_len=self.args.max_seq_len,
            # a long run checkpoints (weights + optimizer) so that a killed run resumes
            save_every=CHECKPOINT_EVERY,
            resume=(checkpoint_dir(target) / STATE_FILE).exists(),
            threads=self.args.threads,
            seed=self.args.seed,
            progress=False,
        )
        log(
            f"train: {name} on {dataset.name} ({settings.student_layers}, lr {settings.learning_rate}, "
            f"{settings.epochs} epochs; {memory()})"
        )
        started = time.monotonic()
        train_student(settings)
        log(f"train: {name} done in {time.monotonic() - started:.0f} s ({memory()})")
        (target / "train_seconds.txt").write_text(f"{time.monotonic() - started:.0f}\n")
        return target

    def untrained(self) -> Path:
        from distillscope.models import build_student

        target = self.out / "students" / "untrained"
        if not (target / "config.json").exists():
            teacher, tokenizer = self.teacher()
            build_student(teacher, self.args.student_layers).save_pretrained(str(target))
            tokenizer.save_pretrained(str(target))
            self.release_teacher()
        return target

    def read(self, student: Path, texts: Path, delta: float, accounts: list[str]) -> dict[str, Any]:
        """Reading mode (fresh seeds), each key on its own account's texts; the old all-texts reading too.

        The reading texts are what the harvesters and the 3 bystanders were served.
        Own-text reading (the result): each account's key on its own texts, each of
        the 20 control keys on every account's texts. All-texts reading (kept for
        comparison, as measured before): every key over all the harvest texts.
        """
        from distillscope.models import load_model
        from distillscope.models.generate import pad_token_id, teacher_force
        from distillscope.watermark.radioactivity import (
            candidates_with_controls,
            reading_pairs,
            score_own_texts,
            score_predictions,
        )
        from distillscope.watermark.texts import read_documents

        model, tokenizer = load_model(student)
        harvest = [d for d in read_documents(texts).documents if d.text]
        documents = harvest + [d for d in read_documents(self.bystanders(delta)).documents if d.text]
        pairs = reading_pairs(tokenizer, documents)
        if len(pairs) != len(documents):
            raise SystemExit("a reading text tokenized to nothing: owners would not line up")
        forced = teacher_force(model, pairs, batch_size=8, max_length=256, pad_id=pad_token_id(tokenizer))
        config, keys = self.config(delta), [*accounts, *BYSTANDERS]
        own = score_own_texts(
            forced,
            [d.account or "" for d in documents],
            config,
            keys,
            vocab_size=self.vocab,
            controls=self.args.controls,
            alpha=1e-3,
            suspect=student.name,
            fresh_seeds=True,
        )
        everyone = score_predictions(
            forced[: len(harvest)],
            config,
            candidates_with_controls(config, keys, controls=self.args.controls),
            vocab_size=self.vocab,
            alpha=1e-3,
            suspect=student.name,
            fresh_seeds=True,
        )
        result = summarize(own.to_dict(), accounts)
        result["all_texts"] = summarize(everyone.to_dict(), accounts)["summary"]
        return result

    def pooled(self, student: Path, texts: Path, delta: float) -> dict[str, Any]:
        from distillscope.models import load_model
        from distillscope.models.generate import pad_token_id, teacher_force
        from distillscope.watermark.radioactivity import pooled_reading, reading_pairs
        from distillscope.watermark.texts import read_documents

        model, tokenizer = load_model(student)
        documents = read_documents(texts).documents
        pairs = reading_pairs(tokenizer, documents)
        owners = [d.account for d in documents if d.text]
        forced = teacher_force(model, pairs, batch_size=8, max_length=256, pad_id=pad_token_id(tokenizer))
        report = pooled_reading(
            forced,
            owners,
            self.config(delta),
            vocab_size=self.vocab,
            controls=self.args.controls,
            alpha=1e-3,
            suspect=student.name,
        )
        return report.to_dict()

    def black_box(self, student: Path, texts: Path, delta: float, accounts: list[str]) -> dict[str, Any]:
        """The suspect answers the harvested prompts (sampled at 0.7); its answers are scored."""
        from distillscope.models import load_model
        from distillscope.models.generate import generate
        from distillscope.models.runtime import prompt_ids
        from distillscope.watermark.radioactivity import candidates_with_controls, score_answers
        from distillscope.watermark.texts import read_documents

        model, tokenizer = load_model(student)
        documents = read_documents(texts).documents
        ids = [prompt_ids(tokenizer, d.prompt_messages) for d in documents]
        answers = generate(
            model,
            tokenizer,
            ids,
            max_new_tokens=self.args.max_new_tokens,
            batch_size=16,
            do_sample=True,
            temperature=0.7,
            seed=7,
        )
        texts_out = [tokenizer.decode(a.ids, skip_special_tokens=True) for a in answers]
        config = self.config(delta)
        candidates = candidates_with_controls(config, [*accounts, *BYSTANDERS], controls=self.args.controls)
        report = score_answers(
            texts_out, tokenizer, config, candidates, vocab_size=self.vocab, alpha=1e-3, suspect=student.name
        )
        return summarize(report.to_dict(), accounts)


def summarize(report: dict[str, Any], harvesters: list[str]) -> dict[str, Any]:
    """The report plus the numbers a table needs: harvesters' p, bystanders', controls'."""
    from distillscope.watermark.stats import holm

    keys = {k["name"]: k for k in report["keys"]}
    controls = [k for k in report["keys"] if k["role"] == "control"]
    control_p = [k["p_value"] for k in controls if k["p_value"] is not None]
    adjusted = [p for p in holm(control_p) if p is not None]
    report["summary"] = {
        "harvesters": {
            a: {
                "p": keys[a]["p_value"],
                "p_adjusted": keys[a]["p_adjusted"],
                "green_fraction": keys[a]["green_fraction"],
                "scored": keys[a]["scored"],
                "positions": keys[a]["positions"],
            }
            for a in harvesters
        },
        "bystanders_min_p": min(
            (keys[b]["p_value"] for b in BYSTANDERS if keys[b]["p_value"] is not None), default=None
        ),
        "controls": len(controls),
        "controls_min_p": min(control_p, default=None),
        "controls_below_0.05": sum(p < 0.05 for p in control_p),
        "controls_min_p_holm": min(adjusted, default=None),
        "named": report["attributed"],
    }
    return report


# -- scenarios -----------------------------------------------------------------------------


def run_scenario(bench: Bench, name: str) -> dict[str, Any]:
    from distillscope.records import read_exchanges, write_jsonl
    from distillscope.watermark.scenarios import mix_by_share

    args = bench.args
    result: dict[str, Any] = {"scenario": name, "settings": {k: str(v) for k, v in vars(args).items()}}
    delta = {"delta3": 3.0, "delta2": 2.0}.get(name, 4.0)
    harvest = bench.harvest(delta)
    bench.bystanders(delta)  # every generation before training: the teacher is then released
    marked = read_exchanges(harvest)
    result["harvest"] = {
        "delta": delta,
        "answers": len(marked),
        "accounts": HARVESTERS,
        "tokens": sum(r.completion_tokens or 0 for r in marked),
    }
    data = bench.out / "data" / f"train-{name}.jsonl"
    if name in ("pure", "delta3", "delta2", "small"):
        train_rows = marked
    elif name == "clean":
        train_rows = read_exchanges(bench.clean())
    elif name.startswith("mixed"):
        share = int(name.removeprefix("mixed")) / 100
        needed = result["harvest"]["tokens"] * (1 - share) / share
        mixed = mix_by_share(
            marked, bench.filler(needed), share, lambda r: r.completion_tokens or 0, seed=args.seed
        )
        result["mix"] = mixed.to_dict()
        train_rows = mixed.items
    elif name == "paraphrase":
        train_rows = paraphrased(bench, marked, result)
    elif name == "spread":
        return run_spread(bench, result)
    else:
        raise SystemExit(f"unknown scenario {name!r}")
    if not data.exists():
        write_jsonl(train_rows, data)
    result["training"] = {
        "examples": len(train_rows),
        "answer_tokens": sum(r.completion_tokens or 0 for r in train_rows),
    }
    if name == "small":
        student = bench.train(
            name, data, layers=args.small_layers, lr=args.small_lr, epochs=args.small_epochs
        )
        result["training"].update(layers=args.small_layers, lr=args.small_lr, epochs=args.small_epochs)
    else:
        epochs = args.mixed_epochs if name.startswith("mixed") else args.epochs
        student = bench.train(name, data, epochs=epochs)
        result["training"].update(layers=args.student_layers, lr=args.lr, epochs=epochs)
    seconds = student / "train_seconds.txt"
    result["training"]["seconds"] = float(seconds.read_text()) if seconds.exists() else None
    log(f"read: {name} on the harvest (delta {delta:g})")
    result["suspect"] = bench.read(student, harvest, delta, HARVESTERS)
    log("read: the untrained copy on the same texts (negative control)")
    result["untrained"] = bench.read(bench.untrained(), harvest, delta, HARVESTERS)
    if name == "small":
        log("black-box: the small student answers the harvested prompts, sampled at 0.7")
        result["black_box"] = bench.black_box(student, harvest, delta, HARVESTERS)
    log(f"{name}: done ({memory()})")
    return result


def paraphrased(bench: Bench, marked: list[Any], result: dict[str, Any]) -> list[Any]:
    """The harvest with every answer rewritten by the unwatermarked teacher (same prompts)."""
    from dataclasses import replace

    from distillscope.records import read_exchanges, write_jsonl
    from distillscope.watermark.detector import candidates_for, detect_sequences, tokenize
    from distillscope.watermark.scenarios import paraphrase, shared_ngrams

    path = bench.out / "data" / "paraphrase-d4.jsonl"
    model, tokenizer = bench.teacher()
    if not path.exists():
        log(f"paraphrase: the teacher rewrites {len(marked)} harvested answers")
        texts = paraphrase(
            model,
            tokenizer,
            [r.response_text or "" for r in marked],
            max_new_tokens=bench.args.max_new_tokens + 32,
            temperature=0.7,
            seed=3,
            batch_size=16,
        )
        rows = []
        for row, text in zip(marked, texts, strict=True):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            rows.append(
                replace(
                    row,
                    response_text=text,
                    completion_tokens=len(ids),
                    provenance={**(row.provenance or {}), "paraphrased_by": "teacher (unwatermarked)"},
                )
            )
        write_jsonl(rows, path)
    rows = read_exchanges(path)
    config = bench.config(4.0)
    originals = tokenize(tokenizer, [r.response_text or "" for r in marked])
    rewritten = tokenize(tokenizer, [r.response_text or "" for r in rows])
    residual = {}
    for account in HARVESTERS:
        own = [ids for ids, r in zip(rewritten, marked, strict=True) if r.account == account]
        report = detect_sequences(own, config, candidates_for(config, [account]), bench.vocab)
        residual[account] = report.scores[0].test.to_dict()
    result["paraphrase"] = {
        "bigrams_copied": sum(shared_ngrams(o, w) for o, w in zip(originals, rewritten, strict=True))
        / len(rows),
        "length_ratio": sum(map(len, rewritten)) / max(1, sum(map(len, originals))),
        "residual_watermark_in_paraphrases": residual,
        "examples": [
            {"original": m.response_text, "paraphrase": r.response_text}
            for m, r in zip(marked[:3], rows[:3], strict=True)
        ],
    }
    return rows


def run_spread(bench: Bench, result: dict[str, Any]) -> dict[str, Any]:
    """The harvest spread over ``--spread-accounts`` accounts: per-key tests and the pooled test."""
    from distillscope.records import read_exchanges
    from distillscope.watermark.scenarios import spread_accounts

    accounts = spread_accounts(bench.args.spread_accounts)
    harvest = bench.harvest(4.0, accounts, name="spread-d4")
    bench.bystanders(4.0)
    rows = read_exchanges(harvest)
    result["harvest"] = {
        "delta": 4.0,
        "answers": len(rows),
        "accounts": len(accounts),
        "tokens": sum(r.completion_tokens or 0 for r in rows),
    }
    result["training"] = {
        "examples": len(rows),
        "answer_tokens": result["harvest"]["tokens"],
        "layers": bench.args.student_layers,
        "lr": bench.args.lr,
        "epochs": bench.args.epochs,
    }
    student = bench.train("spread", harvest)
    log("read: spread, each key alone")
    result["suspect"] = bench.read(student, harvest, 4.0, accounts)
    log("read: spread, pooled over the harvesting accounts' keys")
    result["pooled"] = bench.pooled(student, harvest, 4.0)
    result["untrained_pooled"] = bench.pooled(bench.untrained(), harvest, 4.0)
    return result


def save(bench: Bench, name: str, result: dict[str, Any]) -> None:
    target = bench.out / "results" / f"{name}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(result, indent=2, default=str))
    if bench.args.evidence:
        bench.args.evidence.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, bench.args.evidence / f"radioactivity-{name}.json")
        log(f"saved {write_collection(bench.args.evidence)}")
    log(f"saved {target}")


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def print_row(name: str, result: dict[str, Any]) -> None:
    s = result["suspect"]["summary"]
    harvesters = ", ".join(f"{a} {_p(v['p'])} ({v['scored']} pairs)" for a, v in s["harvesters"].items())
    if len(s["harvesters"]) > 4:
        ps = [v["p"] for v in s["harvesters"].values() if v["p"] is not None]
        harvesters = f"{len(ps)} keys, min p {_p(min(ps))}, named {len(s['named'])}"
    u = result.get("untrained", {}).get("summary")
    line = (
        f"{name:10s} harvesters: {harvesters}; bystanders min p {_p(s['bystanders_min_p'])}; "
        f"controls {s['controls']}: min p {_p(s['controls_min_p'])}, {s['controls_below_0.05']} below 0.05"
    )
    if u:
        line += f"; untrained min harvester p {_p(min(v['p'] or 1 for v in u['harvesters'].values()))}"
    if "pooled" in result:
        pooled = result["pooled"]
        ctl = [c["p_value"] for c in pooled["controls"] if c["p_value"] is not None]
        line += (
            f"; pooled p {_p(pooled['pooled']['p_value'])} ({pooled['pooled']['scored']} pairs), "
            f"control sets min p {_p(min(ctl))}, untrained pooled p "
            f"{_p(result['untrained_pooled']['pooled']['p_value'])}"
        )
    print(line, flush=True)


DESCRIPTIONS = {
    "pure": "our answers are all of it",
    "clean": "negative control: unwatermarked answers to the same prompts",
    "mixed10": "our answers 10 % of the tokens, the rest unwatermarked answers to other prompts",
    "mixed5": "our answers 5 % of the tokens",
    "paraphrase": "every answer rewritten by the unwatermarked teacher",
    "delta3": "watermark delta 3",
    "delta2": "watermark delta 2",
    "small": "10-layer student (auto:10)",
    "spread": "harvest spread over many accounts, 1 answer each",
}


def markdown_row(name: str, result: dict[str, Any]) -> str:
    """One row of docs/watermark.md's table of scenarios."""
    s = result["suspect"]["summary"]
    training = result["training"]
    data = f"{training['examples']} answers, {training['answer_tokens']:,} tokens"
    if "mix" in result:
        mix = result["mix"]
        data = (
            f"{mix['marked']} ours + {mix['filler']} others: {mix['share']:.1%} of "
            f"{mix['marked_tokens'] + mix['filler_tokens']:,} tokens"
        )
    if len(s["harvesters"]) > 4:
        ps = [v["p"] for v in s["harvesters"].values() if v["p"] is not None]
        pooled = result["pooled"]["pooled"]
        keys = (
            f"each of {len(ps)} keys alone: min p {_p(min(ps))}, {len(s['named'])} named; "
            f"**pooled p {_p(pooled['p_value'])}** ({pooled['scored']} pairs, "
            f"green {pooled['green_fraction']:.0%})"
        )
    else:
        keys = "; ".join(
            f"{_p(v['p'])} ({v['scored']} pairs, green {v['green_fraction']:.0%})"
            for v in s["harvesters"].values()
        )
        if "all_texts" in result["suspect"]:
            everyone = result["suspect"]["all_texts"]["harvesters"].values()
            keys += " [all texts: " + "; ".join(_p(v["p"]) for v in everyone) + "]"
    keys = f"{reading_of(result)}: {keys}"
    controls = (
        f"min {_p(s['controls_min_p'])}, {s['controls_below_0.05']} of {s['controls']} < 0.05, "
        f"Holm-min {_p(s['controls_min_p_holm'])}"
    )
    if "pooled" in result:
        sets = [c["p_value"] for c in result["pooled"]["controls"] if c["p_value"] is not None]
        controls += f"; {len(sets)} pooled control sets min {_p(min(sets))}"
        untrained = f"pooled {_p(result['untrained_pooled']['pooled']['p_value'])}"
    else:
        u = result["untrained"]["summary"]["harvesters"]
        untrained = _p(min(v["p"] if v["p"] is not None else 1.0 for v in u.values()))
    extra = ""
    if "paraphrase" in result:
        para = result["paraphrase"]
        residual = max(v["p_value"] for v in para["residual_watermark_in_paraphrases"].values())
        extra = f" ({para['bigrams_copied']:.0%} of bigrams copied; paraphrases as text: p <= {_p(residual)})"
    if "black_box" in result:
        bb = result["black_box"]["summary"]["harvesters"]
        extra = "; black-box (sampled 0.7): " + ", ".join(_p(v["p"]) for v in bb.values())
    command = f"`python bench/radioactivity.py --scenario {name}{options(name, result)}`"
    return (
        f"| {name}: {DESCRIPTIONS[name]}{extra} | {data} | {keys} | {_p(s['bystanders_min_p'])} | "
        f"{controls} | {untrained} | {command} |"
    )


def options(name: str, result: dict[str, Any]) -> str:
    """Options beyond ``--scenario`` that reproduce ``result`` (a mixed run's epochs, if not the default)."""
    epochs = float(result["training"]["epochs"])
    if name.startswith("mixed") and epochs != MIXED_EPOCHS:
        return f" --mixed-epochs {epochs:g}"
    return ""


def reading_of(result: dict[str, Any]) -> str:
    """How the keys were read: each on its own account's texts, or each over all the harvest texts."""
    return "own texts" if result["suspect"].get("mode") == "reading-own-texts" else "all texts"


def print_table(directory: Path) -> None:
    print(
        "| scenario | student's training data | harvesting accounts' keys: p (pairs) | 3 bystanders: min p "
        "| control tests: p | untrained copy: min p | reproduce |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in SCENARIOS:
        path = directory / f"radioactivity-{name}.json"
        if path.exists():
            print(markdown_row(name, json.loads(path.read_text())))


SCENARIOS_FORMAT = "distillscope.radioactivity-scenarios/1"
COMMAND = "PYTHONPATH=$PWD nice -n 10 .venv/bin/python bench/radioactivity.py --scenario {}"


def scenario_row(name: str, result: dict[str, Any], alpha: float = 1e-3) -> dict[str, Any]:
    """One scenario's result as a row of ``scenarios.json`` (see docs/watermark.md for the format)."""
    s = result["suspect"]["summary"]
    training = result["training"]
    harvesters = [
        {
            "account": a,
            "p": v["p"],
            "p_holm": v["p_adjusted"],
            "pairs": v["scored"],
            "green": v["green_fraction"],
        }
        for a, v in s["harvesters"].items()
    ]
    named = [h["account"] for h in harvesters if h["p_holm"] is not None and h["p_holm"] < alpha]
    pooled = result.get("pooled")
    row: dict[str, Any] = {
        "scenario": name,
        "description": DESCRIPTIONS[name],
        "negative_control": name == "clean",
        "share": result["mix"]["share"] if "mix" in result else (0.0 if name == "clean" else 1.0),
        "delta": result["harvest"]["delta"],
        "student": {
            "layers": training["layers"],
            "epochs": training["epochs"],
            "lr": training["lr"],
            "examples": training["examples"],
            "answer_tokens": training["answer_tokens"],
        },
        "reading": reading_of(result),
        "harvesters": harvesters,
        "named": named,
        "pooled": None,
        "bystanders_min_p": s["bystanders_min_p"],
        "controls": {
            "tests": s["controls"],
            "min_p": s["controls_min_p"],
            "below_0.05": s["controls_below_0.05"],
            "min_p_holm": s["controls_min_p_holm"],
        },
        "untrained_min_p": None,
        "black_box": None,
        "command": COMMAND.format(name) + options(name, result),
        "evidence": f"docs/evidence/watermark/radioactivity-{name}.json",
    }
    if "untrained" in result:
        values = [v["p"] for v in result["untrained"]["summary"]["harvesters"].values() if v["p"] is not None]
        row["untrained_min_p"] = min(values, default=None)
    if pooled:
        sets = [c["p_value"] for c in pooled["controls"] if c["p_value"] is not None]
        row["pooled"] = {
            "p": pooled["pooled"]["p_value"],
            "pairs": pooled["pooled"]["scored"],
            "green": pooled["pooled"]["green_fraction"],
            "control_sets": len(sets),
            "control_sets_min_p": min(sets, default=None),
            "untrained_p": result["untrained_pooled"]["pooled"]["p_value"],
        }
        row["untrained_min_p"] = row["pooled"]["untrained_p"]
    if "black_box" in result:
        bb = result["black_box"]["summary"]["harvesters"]
        row["black_box"] = [{"account": a, "p": v["p"], "pairs": v["scored"]} for a, v in bb.items()]
    row["verdict"] = verdict(row, alpha)
    return row


def verdict(row: dict[str, Any], alpha: float) -> str:
    """In words: which harvesting accounts the test names at ``alpha`` (Holm), or the pooled test."""
    accounts = len(row["harvesters"])
    if row["pooled"] is not None and row["pooled"]["p"] is not None and row["pooled"]["p"] < alpha:
        return f"model named (pooled test); {len(row['named'])} of {accounts} accounts named alone"
    if len(row["named"]) == accounts:
        return f"all {accounts} harvesting accounts named"
    if row["named"]:
        return f"{len(row['named'])} of {accounts} harvesting accounts named"
    return "not named"


def collect(directory: Path, alpha: float = 1e-3) -> dict[str, Any]:
    """Every saved scenario result in ``directory`` as one ``scenarios.json`` document."""
    rows = []
    for name in SCENARIOS:
        path = directory / f"radioactivity-{name}.json"
        if path.exists():
            result = json.loads(path.read_text())
            rows.append(scenario_row(name, result, alpha) | {"seconds": result.get("seconds")})
    return {
        "format": SCENARIOS_FORMAT,
        "alpha": alpha,
        "teacher": "SmolLM2-135M-Instruct",
        "watermark": {"gamma": 0.25, "seeding_scheme": "lefthash", "context_width": 1, "keys": "per-account"},
        "scenarios": rows,
    }


def write_collection(directory: Path) -> Path:
    target = directory / "scenarios.json"
    target.write_text(json.dumps(collect(directory), indent=2) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario", default="all", help=f"one of {', '.join(SCENARIOS)}, a comma-separated list, or all"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/radioactivity"))
    parser.add_argument(
        "--evidence",
        type=Path,
        default=Path("docs/evidence/watermark"),
        help="also copy each result here (empty string: don't)",
    )
    parser.add_argument("--per-account", type=int, default=8, help="answers harvested by each of 2 accounts")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--max-seq-len", type=int, default=112)
    parser.add_argument("--student-layers", default="spread:30")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument(
        "--mixed-epochs",
        type=float,
        default=MIXED_EPOCHS,
        help="epochs of the mixed scenarios (fewer: each of our answers is seen less often)",
    )
    parser.add_argument("--small-layers", default="auto:10")
    parser.add_argument("--small-lr", type=float, default=3e-4)
    parser.add_argument("--small-epochs", type=float, default=6.0)
    parser.add_argument(
        "--spread-accounts", type=int, default=16, help="spread: the harvest prompts over this many accounts"
    )
    parser.add_argument(
        "--controls", type=int, default=20, help="unused control keys (and pooled control sets)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CPU is shared)")
    parser.add_argument(
        "--table", action="store_true", help="print the markdown table of --evidence's results"
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="rewrite --evidence/scenarios.json from --evidence's results (done after every scenario too)",
    )
    args = parser.parse_args()
    if args.table:
        print_table(args.evidence)
        return
    if args.collect:
        print(write_collection(args.evidence))
        return
    if args.evidence is not None and str(args.evidence) in ("", "."):
        args.evidence = None
    import torch

    torch.set_num_threads(args.threads)
    bench = Bench(args)
    chosen = (
        SCENARIOS if args.scenario == "all" else [n.strip() for n in args.scenario.split(",") if n.strip()]
    )
    unknown = [n for n in chosen if n not in SCENARIOS]
    if unknown or not chosen:
        parser.error(f"unknown scenario {unknown}: choose from {', '.join(SCENARIOS)} or all")
    for name in chosen:
        path = bench.out / "results" / f"{name}.json"
        if path.exists():
            result = json.loads(path.read_text())
        else:
            started = time.monotonic()
            result = run_scenario(bench, name)
            result["seconds"] = round(time.monotonic() - started, 1)
            save(bench, name, result)
        print_row(name, result)


if __name__ == "__main__":
    main()
