"""Every join coordination.attach made, per log and tag (runs/ev/TAG/LOG.json, "joins"): the joiner's label
and style, requests, p_own and p_account; then how many joiners were benign and how many had no own
evidence at the candidates' level (p_own > 0.05) and were not flagged alone (p_account > 1e-3)."""

import json
import sys
from pathlib import Path

tag = sys.argv[1]
tot = {"joins": 0, "benign": 0, "no_own": 0, "no_own_campaign": 0}
for name in sys.argv[2:]:
    p = Path(f"runs/ev/{tag}/{name}.json")
    if not p.exists():
        continue
    for j in json.loads(p.read_text()).get("joins", []):
        no_own = j["p_own"] > 0.05 and j["p_account"] > 1e-3
        tot["joins"] += 1
        benign = j["label"] == "benign"
        tot["benign"] += benign
        tot["no_own"] += no_own
        tot["no_own_campaign"] += no_own and not benign
        print(
            name,
            j["label"],
            j["style"],
            j["n"],
            f"p_own={j['p_own']:.2g}",
            f"p_account={j['p_account']:.2g}",
            no_own,
        )
print(tag, tot)
