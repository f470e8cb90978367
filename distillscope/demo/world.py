"""The demo's world: a simulated population, written into the gateway's log as its recent history.

The project's traffic simulator writes a labelled log: ordinary users, hard
negatives (a corporate NAT with a shared payment id, an evaluation team on a
model's launch day, a batch customer) and two distillation styles (a hydra of
many quiet accounts behind a proxy pool, a solo heavy extractor). The log is cut
at "now": everything before the cut is shifted so that the cut falls on the
wall clock and written into the gateway's exchange log, so the gateway starts
with that history (its online risk scores are warmed up from it, and the
offline detector reads it as it would read a real deployment's log). After the
cut, a few accounts keep working live (see :mod:`distillscope.demo.live`).

The labels (who is an attacker) are the run's ground truth: they are used to
count hits and false positives in the report, and never shown to a detector.
This module must not score or detect anything.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.demo.settings import DemoSettings
from distillscope.errors import DistillscopeError

CAMPAIGNS = ("hydra", "heavy_extractor")
HARD_NEGATIVES = ("corporate_nat", "eval_harness", "batch_customer")
#: The classic simulator's names for the same hard negatives.
CLASSIC_NAMES = {"eval_harness": "eval_team"}
HARD_NEGATIVE_STYLES = (*HARD_NEGATIVES, *CLASSIC_NAMES.values())
#: Benign groups asked to keep working live, in order of preference: the hard cases first.
LIVE_BENIGN_ORDER = ("eval_harness", "eval_team", "batch_customer", "corporate_nat", "corporate_nat")


class WorldUnavailable(DistillscopeError, RuntimeError):
    """The traffic simulator is missing or produced nothing usable."""


@dataclass
class Member:
    """One account of the world and its ground truth."""

    account: str
    role: str  # "attacker" | "benign"
    group: str
    style: str


@dataclass
class World:
    """The simulated population, its history (shifted to end now) and who goes live."""

    members: dict[str, Member]
    history: list[Any]  # Exchange records before the cut, shifted
    future: dict[str, list[Any]]  # per account: its exchanges after the cut (shifted), in time order
    cut: float  # wall-clock time the history ends at
    simulator: str
    extractor: str | None = None
    hydra_live: list[str] = field(default_factory=list)
    benign_live: list[str] = field(default_factory=list)
    history_rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # the same, as log JSON
    #: The public benchmarks the world's evaluation harnesses run, as files (what a provider can know
    #: before any log, and registers with its guard); empty when the world has no harness.
    benchmark_files: list[Path] = field(default_factory=list)
    _by_account: dict[str, list[Any]] | None = field(default=None, repr=False)

    @property
    def attackers(self) -> list[str]:
        return [m.account for m in self.members.values() if m.role == "attacker"]

    @property
    def benign(self) -> list[str]:
        return [m.account for m in self.members.values() if m.role == "benign"]

    def roles(self) -> dict[str, str]:
        return {m.account: m.role for m in self.members.values()}

    def infrastructure(self, account: str) -> tuple[list[str], str | None]:
        """The IPs and user agent an account used in its history (its live requests reuse them)."""
        rows = self._rows(account)
        ips = list(dict.fromkeys(e.ip for e in rows if e.ip))
        agents = Counter(e.user_agent for e in rows if e.user_agent)
        return ips, (agents.most_common(1)[0][0] if agents else None)

    def sampling(self, account: str) -> dict[str, Any]:
        """The sampling parameters (temperature, top_p) the account used most in its history."""
        keys = ("temperature", "top_p")
        seen = Counter(
            tuple((k, e.params[k]) for k in keys if e.params and e.params.get(k) is not None)
            for e in self._rows(account)
        )
        return dict(seen.most_common(1)[0][0]) if seen else {}

    def playbook(self, account: str, count: int, seed: int) -> list[list[dict[str, Any]]]:
        """``count`` distinct prompts of the kinds the account sent in its log (its next requests, drawn
        from its own history: an extractor keeps enumerating the same prompt generators), as messages."""
        prompts: dict[str, list[dict[str, Any]]] = {}
        for e in self._rows(account):
            text = e.last_user_text
            if text.strip():
                prompts.setdefault(text, list(e.messages or [{"role": "user", "content": text}]))
        keys = sorted(prompts)
        chosen = random.Random(f"{account}-{seed}").sample(keys, min(count, len(keys)))
        return [prompts[k] for k in chosen]

    def metadata(self, account: str) -> tuple[str | None, str | None]:
        """The account's organisation and payment id, as its history carries them (for its API key)."""
        rows = self._rows(account)
        org = next((e.org for e in rows if e.org), None)
        payment = next((e.payment_id for e in rows if e.payment_id), None)
        return org, payment

    def _rows(self, account: str) -> list[Any]:
        if self._by_account is None:
            self._by_account = {}
            for e in self.history:
                self._by_account.setdefault(e.account, []).append(e)
        return self._by_account.get(account) or self.future.get(account, [])

    def summary(self) -> dict[str, Any]:
        """The population for the report: groups, their size, role and history volume."""
        volume = Counter(e.account for e in self.history)
        groups: dict[tuple[str, str, str], list[str]] = {}
        for m in self.members.values():
            groups.setdefault((m.role, m.group, m.style), []).append(m.account)
        return {
            "simulator": self.simulator,
            "accounts": len(self.members),
            "history_exchanges": len(self.history),
            "history_hours": round((self.cut - min(e.ts for e in self.history)) / 3600, 1)
            if self.history
            else 0.0,
            "groups": [
                {
                    "role": role,
                    "group": group,
                    "style": style,
                    "accounts": len(names),
                    "history_exchanges": sum(volume[n] for n in names),
                    "hard_negative": style in HARD_NEGATIVE_STYLES,
                }
                for (role, group, style), names in sorted(groups.items())
            ],
            "live": {
                "extractor": self.extractor,
                "hydra": list(self.hydra_live),
                "benign": list(self.benign_live),
            },
        }


def simulate(settings: DemoSettings, folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Run the project's randomised traffic simulator; return (exchange rows, labels, simulator name).

    The randomised simulator runs in memory (its rows are the exchange log's JSON objects). The
    classic simulator (``distillscope.simulate.classic``, the one the detector was first written
    with) is used only when the randomised one is not installed; it writes files into ``folder``.
    """
    try:
        from distillscope.simulate import generate
    except ImportError:
        return _simulate_classic(settings, folder)
    sim, labels = generate(
        seed=settings.seed,
        benign=int(settings.benign_users),
        days=int(settings.days) or None,
        campaigns=CAMPAIGNS,
        hard_negatives=HARD_NEGATIVES,
    )
    return sim.rows, labels, "distillscope.simulate (randomised)"


def _simulate_classic(
    settings: DemoSettings, folder: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    from distillscope.records import iter_jsonl

    try:
        from distillscope.simulate.classic import simulate_traffic
    except ImportError as exc:
        raise WorldUnavailable(f"no traffic simulator is available ({exc})") from exc
    result = simulate_traffic(
        folder,
        benign_users=int(settings.benign_users),
        days=int(settings.days) or 7,
        seed=settings.seed,
        campaigns=CAMPAIGNS,
        hard_negatives=tuple(CLASSIC_NAMES.get(n, n) for n in HARD_NEGATIVES),
    )
    rows = [row for _, row, _ in iter_jsonl(Path(result.exchanges_path)) if isinstance(row, dict)]
    labels = [row for _, row, _ in iter_jsonl(Path(result.labels_path)) if isinstance(row, dict)]
    return rows, labels, "distillscope.simulate.classic (classic)"


def build_world(settings: DemoSettings, folder: Path, now: float, future_s: float = 3 * 3600.0) -> World:
    """Simulate, cut ``future_s`` before the log's end, shift the cut to ``now``; pick who goes live.

    The exchanges after the cut are each account's "next requests": the live window plays the
    first few of the benign accounts chosen to go live, and drops the rest.
    """
    from distillscope.records import Exchange

    raw, labels, simulator = simulate(settings, folder)
    members = {}
    for row in labels:
        role = "attacker" if row.get("label") == "campaign" else "benign"
        members[row["account"]] = Member(row["account"], role, str(row.get("group")), str(row.get("style")))
    raw = sorted(raw, key=lambda r: float(r["ts"]))
    if not raw:
        raise WorldUnavailable("the simulator wrote an empty log")
    cut_at = float(raw[-1]["ts"]) - future_s
    shift = now - cut_at
    history, history_rows, future = [], [], {}
    seen: Counter[str] = Counter()
    for row in raw:
        row = {**row, "ts": round(float(row["ts"]) + shift, 3)}
        seen[str(row["id"])] += 1
        if seen[str(row["id"])] > 1:  # the gateway's log keys rows by id: a repeated id would be lost
            row["id"] = f"{row['id']}-{seen[str(row['id'])]}"
        e = Exchange.from_dict(row)
        if e.ts < now:
            history.append(e)
            history_rows.append(row)
        else:
            future.setdefault(e.account, []).append(e)
    world = World(members, history, future, now, simulator, history_rows=history_rows)
    world.benchmark_files = public_benchmark_files(settings, folder, simulator)
    _pick_live(world, settings)
    return world


def public_benchmark_files(settings: DemoSettings, folder: Path, simulator: str) -> list[Path]:
    """The files of the public benchmarks the simulated harnesses run (``folder/benchmarks/*.jsonl``).

    The randomised simulator draws its benchmark from the seed alone, never from the log; the classic
    one writes its evaluation team's benchmark next to its log. Empty without evaluation harnesses.
    """
    target = folder / "benchmarks"
    if "randomised" in simulator and "eval_harness" in HARD_NEGATIVES:
        from distillscope.simulate.randomized import public_benchmarks, write_benchmarks

        return write_benchmarks(public_benchmarks(settings.seed), target)
    return sorted(target.glob("*.jsonl")) if target.is_dir() else []


def _pick_live(world: World, settings: DemoSettings) -> None:
    rng = random.Random(settings.seed)
    by_style: dict[str, list[str]] = {}
    for m in sorted(world.members.values(), key=lambda m: m.account):
        by_style.setdefault(m.style, []).append(m.account)
    extractors = by_style.get("heavy_extractor", [])
    world.extractor = extractors[0] if extractors else None
    hydra = by_style.get("hydra", [])
    world.hydra_live = sorted(rng.sample(hydra, min(len(hydra), int(settings.live_hydra))))
    wanted = int(settings.live_benign)
    chosen: list[str] = []
    for style in LIVE_BENIGN_ORDER:
        pool = [a for a in by_style.get(style, []) if a not in chosen and world.future.get(a)]
        if pool and len(chosen) < wanted:
            chosen.append(rng.choice(pool))
    users = [
        a
        for a in world.benign
        if a not in chosen and world.future.get(a) and world.members[a].style not in HARD_NEGATIVE_STYLES
    ]
    rng.shuffle(users)
    chosen += users[: max(0, wanted - len(chosen))]
    world.benign_live = chosen


def write_history_file(world: World, path: Path) -> int:
    """Write the history as an exchange log file (JSONL), from the simulator's own JSON rows."""
    from distillscope.records import write_jsonl

    return write_jsonl(world.history_rows or world.history, path, private=True)


def write_history(world: World, db_url: str, chunk: int = 5000) -> int:
    """Write the history into the gateway's exchange log (the store its warm start reads)."""
    from distillscope.guard.logstore import open_log_store

    store = open_log_store(db_url, create=True)
    try:
        for start in range(0, len(world.history), chunk):
            store.write_batch(world.history[start : start + chunk])
        return store.count()
    finally:
        store.close()
