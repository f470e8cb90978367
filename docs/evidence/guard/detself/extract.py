"""Extract what the online scorer reads of each exchange of a log into a pickle (docs/guard.md, detself).

Usage: python extract.py LOG/exchanges.jsonl OUT.pkl. Per exchange (unauthenticated rows skipped,
as the gateway and ``guard replay`` skip them): the account, the timestamp, the request features of
``guard.risk.request_features`` (without the text), whether it asks for log-probs (the policy's
test), the usage and finish reason. ``sim.py`` replays it through ``RiskTracker`` many times
without re-reading the JSON. Analysis only: it decides nothing.
"""

import pickle
import sys

from distillscope.guard.online import UNAUTHENTICATED
from distillscope.guard.policy import _wants_logprobs
from distillscope.guard.risk import body_of, request_features
from distillscope.records import ExchangeReader


def main(log: str, out: str) -> None:
    accounts: dict[str, int] = {}
    rows = []
    for ex in ExchangeReader(log, on_error="skip"):
        if ex.account == UNAUTHENTICATED:
            continue
        body = body_of(ex)
        f = request_features(body)
        a = accounts.setdefault(ex.account, len(accounts))
        prompt = ex.prompt_tokens if ex.prompt_tokens is not None else len(f.text) // 4
        rows.append(
            (a, ex.ts, f.logprobs, f.top_logprobs, f.logit_bias, f.cot, f.max_tokens, f.history, f.bias_key,
             f.question, f.opening, _wants_logprobs(body), ex.status is None or ex.status < 400, prompt,
             ex.completion_tokens, ex.finish_reason)
        )  # fmt: skip
    with open(out, "wb") as handle:
        pickle.dump({"accounts": list(accounts), "rows": rows}, handle, protocol=5)
    print(len(rows), len(accounts))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
