"""Negative control: every campaign account of a log fakes tool use; is any of them explained by tool loops?

kinds: dummy (a tools list declared on every request), pasted (a made-up tool call and its result
in every request, text answers). Writes the modified log next to the original and detects it.
"""

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

from distillscope.detect import run_detection
from distillscope.detect.evaluation import evaluate, load_labels
from distillscope.records import write_parquet

seed, kind = sys.argv[1], sys.argv[2]
src = Path(f"runs/logs/{seed}-220")
labels = load_labels(src / "labels.jsonl")
camp = {a for a, lab in labels.items() if lab["label"] == "campaign"}
rows = pq.read_table(src / "exchanges.parquet").to_pylist()
DEF = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
out = []
for r in rows:
    r = {k: v for k, v in r.items() if v is not None}
    for k in ("messages", "params"):
        if isinstance(r.get(k), str):
            r[k] = json.loads(r[k])
    if r["account"] in camp:
        r["params"] = {**r.get("params", {}), "tools": DEF}
        if kind == "pasted":
            call = {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
            r["messages"] = (
                r["messages"][:-1]
                + [
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
                ]
                + r["messages"][-1:]
            )
    out.append(r)
dest = Path(f"runs/evasion/{seed}-{kind}")
dest.mkdir(parents=True, exist_ok=True)
write_parquet(out, dest / "exchanges.parquet")
res = run_detection(dest / "exchanges.parquet", dest / "out")
rep = evaluate(res.accounts, labels)
d = rep["at_default_threshold"]
expl = [
    a["account"]
    for a in res.accounts
    if a["account"] in camp and any(x.startswith("explained by tool loops") for x in a["reasons"])
]
print(
    seed,
    kind,
    f"TPR {d['tp']}/{d['positives']} FPR {d['fp']}/{d['negatives']} "
    f"campaign accounts explained by tool loops: {len(expl)}",
    flush=True,
)
(dest / "summary.json").write_text(json.dumps({"flagged": sorted(res.flagged), "report": rep}))
