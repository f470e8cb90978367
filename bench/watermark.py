"""Evidence for the watermark: harvest through a watermarking gateway, train students, test radioactivity.

The whole path runs on the embedded default (SmolLM2-135M-Instruct), offline:

1. the teacher is served (``distillscope.server``) behind the guard gateway with
   API keys for three attacker accounts and one internal account, and the
   watermark hook of ``--delta``/``gamma``/lefthash with per-account keys
   (the internal account is exempt: its answers are the unwatermarked teacher);
2. each attacker account harvests its own prompts (``distillscope.harvest``);
   the internal account harvests the same prompts and held-out ones unwatermarked;
3. the detector attributes each account's harvest to its key (text detection);
4. students (layer subsets of the teacher) are trained with ``distillscope.train``:
   on the three attackers' watermarked answers, on the same prompts' unwatermarked
   answers (control), and on growing shares of one attacker's answers (power curve);
5. reading-mode radioactivity of every student, the untrained student as a
   control too: a p-value per account key (3 attackers + 3 bystanders that never
   harvested, Holm-corrected) and 5 negative-control keys, once reading the
   attackers' harvested (watermarked) answers with fresh seeds only (the strong
   test) and once reading unwatermarked teacher answers at every position;
6. the cost of the watermark on the teacher's greedy answers.

Every stage keeps its output in ``--out`` and is skipped when rerun. Prints a
summary with ratios against the controls; writes ``results.json`` and the plot
``docs/watermark-radioactivity.png``.

    .venv/bin/python bench/watermark.py                 # small and quick; not enough to detect
    # the README's evidence (~50 min on one core of a quiet 2-core CPU):
    .venv/bin/python bench/watermark.py --out runs/wm3 --per-account 48 --held-out 48 --max-new-tokens 64 \
        --student-layers spread:30 --lr 1e-4 --epochs 4 --curve 12,24,48 --bb-prompts 16
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

ATTACKERS = ["attacker-1", "attacker-2", "attacker-3"]
BYSTANDERS = ["bystander-1", "bystander-2", "bystander-3"]
INTERNAL = "internal"
TOPICS = [
    "photosynthesis",
    "the water cycle",
    "black holes",
    "vaccines",
    "the internet",
    "democracy",
    "inflation",
    "volcanoes",
    "machine learning",
    "the French Revolution",
    "climate change",
    "DNA",
    "gravity",
    "the stock market",
    "rainbows",
    "earthquakes",
    "the human heart",
    "electric cars",
    "recycling",
    "the Roman Empire",
    "solar panels",
    "coffee",
    "sleep",
    "honey bees",
    "the moon",
    "antibiotics",
    "bread baking",
    "chess",
    "the printing press",
    "tides",
    "oxygen",
    "friendship",
    "glaciers",
    "money",
    "the immune system",
    "bicycles",
    "music",
    "spiders",
    "deserts",
    "the ocean",
]
TEMPLATES = [
    "Explain {} in two sentences.",
    "Write a short paragraph about {} for a ten-year-old.",
    "What are three interesting facts about {}?",
    "Give me a simple summary of {}.",
    "Why does {} matter? Answer briefly.",
    "Describe {} to someone who has never heard of it.",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def all_prompts() -> list[str]:
    return [t.format(topic) for topic in TOPICS for t in TEMPLATES]


def write_config(out: Path, delta: float) -> Path:
    secret = out / "watermark.secret"
    if not secret.exists():
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    config = out / "watermark.toml"
    config.write_text(
        "[watermark]\nmode = 'per-account'\ngamma = 0.25\n"
        f"delta = {delta}\ncontext_width = 1\nseeding_scheme = 'lefthash'\n"
        f"secret_file = 'watermark.secret'\nexempt_accounts = ['{INTERNAL}']\n"
    )
    return config


def harvest_all(out: Path, config_path: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Serve the watermarking teacher behind the guard and harvest with every account."""
    from distillscope.harvest.run import harvest
    from distillscope.harvest.settings import HarvestSettings
    from distillscope.harvest.strategies.base import Query, StaticStrategy

    prompts = all_prompts()
    n = args.per_account
    plan = {a: prompts[i * n : (i + 1) * n] for i, a in enumerate(ATTACKERS)}
    plan[INTERNAL] = prompts[: 3 * n + args.held_out]  # the same prompts unwatermarked, plus held-out ones
    dirs = {account: out / "harvest" / account for account in plan}
    if all((d / "exchanges.jsonl").exists() and not _failures(d) for d in dirs.values()):
        log("harvest: done already")
        return dirs
    with watermarking_server(out, config_path) as (base_url, api_keys):
        for account, account_prompts in plan.items():
            if (dirs[account] / "exchanges.jsonl").exists() and not _failures(dirs[account]):
                continue
            os.environ[f"BENCH_KEY_{account.upper().replace('-', '_')}"] = api_keys[account]
            log(f"harvest: {account} asks {len(account_prompts)} prompts")
            settings = HarvestSettings(
                out_dir=dirs[account],
                strategy=StaticStrategy([Query.user(p) for p in account_prompts], name=f"bench-{account}"),
                teacher=base_url,
                model="teacher",
                api_key_env=f"BENCH_KEY_{account.upper().replace('-', '_')}",
                max_new_tokens=args.max_new_tokens,
                temperature=0.7,
                seed=0,
                concurrency=16,
                timeout_s=1800.0,
                retry_failed=True,  # a busy CPU answers slowly; a timeout would only resend the work
                account=account,
                terms="own model (distillscope evidence run)",
                progress=False,
            )
            result = harvest(settings)
            log(f"harvest: {account}: {result.exchanges} exchanges, {result.failed} failed")
    return dirs


def _failures(directory: Path) -> int:
    path = directory / "failures.jsonl"
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0


class watermarking_server:  # noqa: N801 - used like contextlib's helpers
    """The teacher behind the guard (keys per account, permissive policy) with the watermark hook."""

    def __init__(self, out: Path, config_path: Path) -> None:
        self.out, self.config_path = out, config_path

    def __enter__(self) -> tuple[str, dict[str, str]]:
        from distillscope.guard.gateway import GuardGateway
        from distillscope.guard.keys import KeyStore
        from distillscope.guard.logstore import open_log_store
        from distillscope.guard.policy import PolicySettings
        from distillscope.serving import ServeSettings, serve

        server_secret = secrets.token_hex(32).encode()
        db = f"sqlite:///{self.out / 'guard.db'}"
        for stale in ("guard.db", "guard.db-wal", "guard.db-shm"):  # a rerun: fresh keys (old secret gone)
            (self.out / stale).unlink(missing_ok=True)
        keys = KeyStore(db, server_secret)
        api_keys = {account: keys.create_key(account)[0] for account in [*ATTACKERS, INTERNAL]}
        # The guard logs every exchange but never throttles or blocks here: this run measures the watermark.
        policy = PolicySettings.from_dict({"risk": {"throttle": None, "strip_logprobs": None, "block": None}})
        gateway = GuardGateway(keys, open_log_store(db, create=True), policy)
        settings = ServeSettings(
            served_model_name="teacher", port=0, max_batch_size=16, watermark=str(self.config_path)
        )
        self._context = serve(settings, gateway=gateway)
        return self._context.__enter__(), api_keys

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)


def read_jsonl(path: Path) -> list[Any]:
    from distillscope.records import read_exchanges

    return read_exchanges(path)


def build_datasets(out: Path, dirs: dict[str, Path], n: int) -> dict[str, Path]:
    from distillscope.records import write_jsonl

    data = out / "data"
    data.mkdir(exist_ok=True)
    marked = [x for a in ATTACKERS for x in read_jsonl(dirs[a] / "exchanges.jsonl")]
    internal = read_jsonl(dirs[INTERNAL] / "exchanges.jsonl")
    train_prompts = {x.last_user_text for x in marked}
    plain = [x for x in internal if x.last_user_text in train_prompts]
    paths = {
        "watermarked": data / "watermarked.jsonl",
        "plain": data / "plain.jsonl",
        "reading": data / "reading.jsonl",
        "attacker-1": dirs["attacker-1"] / "exchanges.jsonl",
    }
    write_jsonl(marked, paths["watermarked"])
    write_jsonl(plain, paths["plain"])
    write_jsonl(internal, paths["reading"])  # unwatermarked teacher answers: valid reading text
    log(f"data: {len(marked)} watermarked, {len(plain)} plain, {len(internal)} reading exchanges")
    return paths


def train(out: Path, name: str, dataset: Path, args: argparse.Namespace, limit: int | None = None) -> Path:
    from distillscope.train import TrainSettings, train_student

    target = out / "students" / name
    if (target / "config.json").exists():
        return target
    log(f"train: {name} on {dataset.name}" + (f" (first {limit})" if limit else ""))
    started = time.monotonic()
    settings = TrainSettings(
        dataset=dataset,
        out=target,
        method="sft",
        student_layers=args.student_layers,
        learning_rate=args.lr,
        epochs=args.epochs,
        max_steps=10_000,
        batch_size=8,
        max_seq_len=192,
        limit=limit,
        save_every=10_000,
        threads=args.threads,
        progress=False,
    )
    path = train_student(settings)
    log(f"train: {name} done in {time.monotonic() - started:.0f} s")
    return path


def untrained_student(out: Path, student_layers: str) -> Path:
    from distillscope.models import build_student, load_model

    target = out / "students" / "untrained"
    if not (target / "config.json").exists():
        teacher, tokenizer = load_model()
        build_student(teacher, student_layers).save_pretrained(str(target))
        tokenizer.save_pretrained(str(target))
    return target


def radioactivity(
    student: Path, reading: Path, config_path: Path, vocab: int, fresh_seeds: bool
) -> dict[str, Any]:
    from distillscope.models import load_model
    from distillscope.watermark.config import WatermarkSettings
    from distillscope.watermark.radioactivity import reading_mode
    from distillscope.watermark.settings import RadioactivityTest
    from distillscope.watermark.texts import read_documents

    config = WatermarkSettings.from_file(config_path)
    model, tokenizer = load_model(student)
    documents = read_documents(reading).documents
    test = RadioactivityTest(controls=5, alpha=1e-3, batch_size=8, max_length=256, fresh_seeds=fresh_seeds)
    accounts = [*ATTACKERS, *BYSTANDERS]
    report = reading_mode(
        model, tokenizer, documents, config, accounts, test, vocab_size=vocab, suspect=student.name
    )
    return report.to_dict()


def text_detection(dirs: dict[str, Path], config_path: Path, vocab: int) -> dict[str, Any]:
    from distillscope.models import load_tokenizer
    from distillscope.watermark.config import WatermarkSettings
    from distillscope.watermark.detector import detect_texts

    config = WatermarkSettings.from_file(config_path)
    tokenizer = load_tokenizer()
    out = {}
    for account, path in dirs.items():
        texts = [x.response_text or "" for x in read_jsonl(path / "exchanges.jsonl")]
        per_doc = detect_texts(
            texts, config, tokenizer, vocab, accounts=[*ATTACKERS, *BYSTANDERS], alpha=1e-3, per_document=True
        )
        pooled = detect_texts(
            texts, config, tokenizer, vocab, accounts=[*ATTACKERS, *BYSTANDERS], alpha=1e-3
        )[0]
        testable = [r for r in per_doc if not r.too_short]
        out[account] = {
            "documents": len(texts),
            "pooled_attributed": pooled.attributed,
            "pooled_overall_p": pooled.overall_p,
            "per_document_testable": len(testable),
            "per_document_attributed_to_self": sum(r.attributed == [account] for r in testable),
            "per_document_attributed_to_other": sum(
                bool(r.attributed) and r.attributed != [account] for r in testable
            ),
        }
    return out


def cost(config_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    from distillscope.models import load_model
    from distillscope.models.runtime import prompt_ids
    from distillscope.watermark.config import WatermarkSettings
    from distillscope.watermark.cost import watermark_cost
    from distillscope.watermark.processor import processor_for_key

    config = WatermarkSettings.from_file(config_path)
    model, tokenizer = load_model()
    prompts = [
        prompt_ids(tokenizer, [{"role": "user", "content": p}]) for p in all_prompts()[-args.cost_prompts :]
    ]
    report = watermark_cost(
        model,
        tokenizer,
        prompts,
        processor_for_key(config, config.key_for("cost-probe")),
        max_new_tokens=args.max_new_tokens,
        batch_size=8,
    )
    return report.to_dict()


def black_box(student: Path, prompts: list[str], config_path: Path, vocab: int, max_new_tokens: int) -> dict:
    """Closed-model test: the suspect answers prompts like those it was trained on; its answers are scored."""
    from distillscope.models import load_model
    from distillscope.models.generate import generate
    from distillscope.models.runtime import prompt_ids
    from distillscope.watermark.config import WatermarkSettings
    from distillscope.watermark.radioactivity import candidates_with_controls, score_answers

    config = WatermarkSettings.from_file(config_path)
    model, tokenizer = load_model(student)
    ids = [prompt_ids(tokenizer, [{"role": "user", "content": p}]) for p in prompts]
    answers = generate(model, tokenizer, ids, max_new_tokens=max_new_tokens, batch_size=16)
    texts = [tokenizer.decode(a.ids, skip_special_tokens=True) for a in answers]
    candidates = candidates_with_controls(config, [*ATTACKERS, *BYSTANDERS], controls=5)
    report = score_answers(
        texts, tokenizer, config, candidates, vocab_size=vocab, alpha=1e-3, suspect=student.name
    )
    return report.to_dict()


def completion_tokens(path: Path, limit: int | None = None) -> int:
    rows = read_jsonl(path)
    rows = sorted(rows, key=lambda x: x.ts)[:limit] if limit else rows
    return sum(int(x.completion_tokens or 0) for x in rows)


def plot(results: dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distillscope.watermark.stats import log10_p

    curve = results["curve"]
    xs = [point["watermarked_tokens"] for point in curve]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(xs, [log10_p(p["p_attacker_1"]) for p in curve], "o-", label="key of attacker-1 (harvested)")
    ax.plot(
        xs,
        [max(log10_p(c) for c in p["p_controls"]) for p in curve],
        "s--",
        color="grey",
        label="max over 5 unused control keys",
    )
    ax.plot(
        xs,
        [max(log10_p(c) for c in p["p_bystanders"]) for p in curve],
        "^:",
        color="tab:green",
        label="max over 3 bystander accounts",
    )
    ax.axhline(3, color="tab:red", lw=0.8, label="p = 1e-3")
    ax.set_xlabel("watermarked training tokens (attacker-1's harvest)")
    ax.set_ylabel("-log10 p (reading the harvest, exact binomial)")
    ax.set_title("Radioactivity of a SmolLM2 student (reading mode, fresh seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=120)
    log(f"plot: {target}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/watermark-evidence"))
    parser.add_argument(
        "--per-account", type=int, default=16, help="prompts harvested by each attacker account"
    )
    parser.add_argument("--held-out", type=int, default=16, help="extra unwatermarked prompts for reading")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--delta", type=float, default=4.0)
    parser.add_argument("--student-layers", default="spread:10")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--curve", default="4,8,16", help="attacker-1 exchanges per power-curve student")
    parser.add_argument("--cost-prompts", type=int, default=8)
    parser.add_argument(
        "--bb-prompts", type=int, default=8, help="black-box: prompts per attacker, asked again"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a shared, oversubscribed CPU)"
    )
    parser.add_argument("--plot", type=Path, default=Path("docs/watermark-radioactivity.png"))
    args = parser.parse_args()
    if args.per_account * 3 + args.held_out > len(all_prompts()):
        parser.error(f"only {len(all_prompts())} prompts: lower --per-account or --held-out")
    import torch

    torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    config_path = write_config(out, args.delta)
    from distillscope.models import resolve_model_path

    vocab = json.loads((resolve_model_path(None) / "config.json").read_text())["vocab_size"]
    results_path = out / "results.json"
    results: dict[str, Any] = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["settings"] = {k: str(v) for k, v in vars(args).items()}

    def save() -> None:
        results_path.write_text(json.dumps(results, indent=2, default=str))

    dirs = harvest_all(out, config_path, args)
    paths = build_datasets(out, dirs, args.per_account)
    if "text_detection" not in results:
        results["text_detection"] = text_detection(dirs, config_path, vocab)
        save()
    students = {
        "untrained": untrained_student(out, args.student_layers),
        "plain": train(out, "plain", paths["plain"], args),
        "watermarked": train(out, "watermarked", paths["watermarked"], args),
    }
    curve_students = {
        f"attacker-1-first-{n}": (n, train(out, f"attacker-1-first-{n}", paths["attacker-1"], args, limit=n))
        for n in [int(x) for x in args.curve.split(",") if x]
    }
    # Two readings per student: the harvested (watermarked) answers themselves, first occurrences of
    # each watermark window only (the strong test), and unwatermarked teacher answers (all positions).
    readings = {
        "reading_harvest": (paths["watermarked"], True),
        "radioactivity": (paths["reading"], False),
    }
    everyone = {**students, **{name: path for name, (_, path) in curve_students.items()}}
    for section, (reading, fresh) in readings.items():
        results.setdefault(section, {})
        for name, path in everyone.items():
            if name not in results[section]:
                log(f"{section}: {name}")
                results[section][name] = radioactivity(path, reading, config_path, vocab, fresh)
                limit = curve_students[name][0] if name in curve_students else None
                source = paths["attacker-1"] if name in curve_students else paths.get(name)
                results[section][name]["training_tokens"] = (
                    completion_tokens(source, limit) if source is not None else 0
                )
                save()
    untrained = results["reading_harvest"]["untrained"]
    curve = [{"exchanges": 0, "watermarked_tokens": 0, "report": untrained}]
    for name, (n, _) in curve_students.items():
        report = results["reading_harvest"][name]
        curve.append({"exchanges": n, "watermarked_tokens": report["training_tokens"], "report": report})
    results["curve"] = [_curve_point(c) for c in curve]
    if "cost" not in results:
        log("cost of the watermark")
        results["cost"] = cost(config_path, args)
    results.setdefault("black_box", {})
    bb_prompts = [
        p
        for i in range(3)
        for p in all_prompts()[i * args.per_account : i * args.per_account + args.bb_prompts]
    ]
    for name in ("untrained", "plain", "watermarked"):
        if name not in results["black_box"]:
            log(f"black-box: {name} answers {len(bb_prompts)} of the harvested prompts")
            results["black_box"][name] = black_box(
                students[name], bb_prompts, config_path, vocab, args.max_new_tokens
            )
            save()
    results["seconds"] = round(time.monotonic() - started, 1)
    save()
    plot(results, args.plot)
    summary(results)


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["name"]: k for k in report["keys"]}


def _curve_point(point: dict[str, Any]) -> dict[str, Any]:
    keys = _by_name(point["report"])
    return {
        "exchanges": point["exchanges"],
        "watermarked_tokens": point["watermarked_tokens"],
        "p_attacker_1": keys["attacker-1"]["p_value"],
        "p_controls": [k["p_value"] for k in point["report"]["keys"] if k["role"] == "control"],
        "p_bystanders": [keys[b]["p_value"] for b in BYSTANDERS],
    }


def _p(value: float | None) -> str:
    return "too short" if value is None else f"{value:.2g}"


def reading_table(section: dict[str, Any], title: str) -> None:
    from distillscope.watermark.stats import log10_p

    print(f"\n== radioactivity, {title} (alpha 1e-3, Holm over 6 account keys; 5 control keys) ==")
    print(
        f"{'suspect':22s} {'tokens':>7s} {'scored':>7s} {'overall p':>10s}  named accounts          "
        f"green/null (att-1)  max control -log10p"
    )
    for name, report in section.items():
        keys = _by_name(report)
        a1 = keys["attacker-1"]
        ratio = (a1["green_fraction"] or 0) / a1["p0"]
        worst = max(log10_p(k["p_value"]) or 0.0 for k in report["keys"] if k["role"] == "control")
        print(
            f"{name:22s} {report['training_tokens']:7d} {a1['scored']:7d} {_p(report['overall_p']):>10s}  "
            f"{','.join(report['attributed']) or '-':22s}  x{ratio:.3f}             {worst:.2f}"
        )


def summary(results: dict[str, Any]) -> None:
    from distillscope.watermark.stats import log10_p

    print("\n== text detection of each account's harvest (pooled, Holm over 6 account keys) ==")
    for account, row in results["text_detection"].items():
        print(
            f"{account:12s} attributed to {row['pooled_attributed'] or '-'} "
            f"(p={_p(row['pooled_overall_p'])}); "
            f"per answer: {row['per_document_attributed_to_self']}/{row['per_document_testable']} to itself, "
            f"{row['per_document_attributed_to_other']} to another account"
        )
    for section, title in (
        ("reading_harvest", "reading the harvested answers, fresh seeds"),
        ("radioactivity", "reading unwatermarked answers, all positions"),
    ):
        reading_table(results[section], title)
    print(
        "\n== radioactivity, black-box (suspect answers harvested prompts; alpha 1e-3, Holm over 6 keys) =="
    )
    for name, report in results.get("black_box", {}).items():
        keys = _by_name(report)
        row = ", ".join(f"{a}: p={_p(keys[a]['p_adjusted'])}" for a in ATTACKERS)
        worst = max(log10_p(k["p_value"]) or 0.0 for k in report["keys"] if k["role"] == "control")
        print(
            f"{name:12s} named {','.join(report['attributed']) or '-':34s} {row}; "
            f"max control -log10p {worst:.2f}"
        )
    c = results["cost"]
    print(
        f"\n== cost (delta={c['delta']}, {c['prompts']} prompts) == agreement {c['agreement']:.1%}, "
        f"unchanged answers {c['exact_match']:.0%}, perplexity x{c['perplexity_ratio']:.2f} "
        f"({c['perplexity_watermarked']:.2f} vs {c['perplexity_plain']:.2f}), green fraction "
        f"{c['green_fraction_watermarked']:.2f} vs {c['green_fraction_plain']:.2f}"
    )
    print(f"\ntotal {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
