"""What evidence existed while the default policy delayed a benign account (docs/guard.md, first runs).

Usage: python first_runs.py LOG/exchanges.jsonl REPLAY_DIR  (labels.jsonl next to the log; REPLAY_DIR
from ``distillscope guard replay``). For each benign account the replay delayed, until its first pause
of an hour: its requests, the models it used, how many of its questions (``question_key``, the online
ledger's key) it put to a second model, and how many another account had asked first. Analysis only.
"""

import json
import sys

from distillscope.guard.risk import body_of, request_features
from distillscope.records import read_exchanges


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def main(log: str, replay: str) -> None:
    labels = {row["account"]: row for row in read_jsonl(log.rsplit("/", 1)[0] + "/labels.jsonl")}
    targets = {}
    for row in read_jsonl(replay + "/accounts.jsonl"):
        if row["delayed"] and labels.get(row["account"], {}).get("label") != "campaign":
            targets[row["account"]] = row
    owners: dict[int | None, str] = {}
    state = {a: {"models": {}, "last": None, "open": True, "n": 0, "others": 0} for a in targets}
    for ex in read_exchanges(log):
        question = request_features(body_of(ex)).question
        st = state.get(ex.account)
        if st is not None and st["open"]:
            if st["last"] is not None and ex.ts - st["last"] > 3600:
                st["open"] = False
            else:
                st["n"] += 1
                st["models"].setdefault(question, set()).add(ex.model)
                st["last"] = ex.ts
                st["others"] += owners.get(question, ex.account) != ex.account
        if question is not None:
            owners.setdefault(question, ex.account)
    for account, st in state.items():
        cross = sum(len(m) >= 2 for m in st["models"].values())
        models = {m for ms in st["models"].values() for m in ms}
        print(
            json.dumps(
                {
                    "account": account,
                    "style": labels[account]["style"],
                    "requests": targets[account]["requests"],
                    "delayed": targets[account]["delayed"],
                    "first_action_request": targets[account]["first_action_request"],
                    "first_run_requests": st["n"],
                    "first_run_models": len(models),
                    "questions_put_to_2plus_models_in_first_run": cross,
                    "first_run_questions_asked_before_by_others": st["others"],
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
