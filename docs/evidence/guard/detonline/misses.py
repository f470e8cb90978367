"""Why the default policy missed campaign accounts of an online style (docs/guard.md, detonline).

Usage: python misses.py LOG/exchanges.jsonl REPLAY_DIR [N]  (labels.jsonl next to the log; REPLAY_DIR
from ``distillscope guard replay``). For each campaign account of an online style (not hydra,
slow-and-low) not acted on within its first N requests (200): replays the log through the
online tracker as ``guard replay`` does (``online.assess``'s features and ``RiskTracker``), and
prints, over its first N requests, how many questions were new / its own again / shared with
another account (and whether the first asker of a shared one was a campaign account), how many
asked for reasoning, how many answers counted toward volume, the evidence at request N, and its
highest score. Analysis only: it decides nothing.
"""

import json
import sys
from collections import Counter

from distillscope.guard.risk import RiskTracker, body_of, request_features
from distillscope.records import read_exchanges

OFFLINE = {"hydra", "slow_and_low"}


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def main(log: str, replay: str, first_n: int = 200) -> None:
    labels = {row["account"]: row for row in read_jsonl(log.rsplit("/", 1)[0] + "/labels.jsonl")}
    targets = {}
    for row in read_jsonl(replay + "/accounts.jsonl"):
        lab = labels.get(row["account"], {})
        first = row.get("first_action_request")
        if (
            lab.get("label") == "campaign"
            and lab.get("style") not in OFFLINE
            and (first is None or first > first_n)
        ):
            targets[row["account"]] = row
    tracker = RiskTracker()
    owners: dict[int, str] = {}
    stats = {a: Counter() for a in targets}
    last = {}
    for ex in read_exchanges(log):
        if ex.account == "(unauthenticated)":
            continue
        features = request_features(body_of(ex))
        score = tracker.observe(ex.account, features, ex.ts)
        volume_before = None
        st = stats.get(ex.account)
        if st is not None and st["n"] < first_n:
            st["n"] += 1
            st["new" if not features.known else ("again" if features.repeated else "shared")] += 1
            if features.shared:
                first_asker = labels.get(owners.get(features.question, ""), {})
                st["shared_first_asked_by_" + first_asker.get("label", "?")] += 1
            st["cot_asked"] += features.cot
            state = tracker._accounts[ex.account]
            volume_before = state.volume
        if ex.status is None or ex.status < 400:
            tracker.answered(
                ex.account, features, ex.prompt_tokens, ex.completion_tokens, ex.ts, ex.finish_reason
            )
        if volume_before is not None:
            st["volume_answers"] += tracker._accounts[ex.account].volume > volume_before
            st["max_score_x1000"] = max(st["max_score_x1000"], int(score.score * 1000))
            if st["n"] == first_n:
                last[ex.account] = {k: round(v, 2) for k, v in score.features.items()}
        if features.question is not None:
            owners.setdefault(features.question, ex.account)
    for account, st in stats.items():
        row = targets[account]
        print(
            json.dumps(
                {
                    "account": account,
                    "style": labels[account]["style"],
                    "requests": row["requests"],
                    "first_action_request": row["first_action_request"],
                    "highest_score": row["score"],
                    f"first_{first_n}": dict(st),
                    f"evidence_at_{first_n}": last.get(account),
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200)
