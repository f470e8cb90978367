"""detscale: one markdown row per scored log (runs/rSEED.json from score.py); results.json with them all."""

import json
import sys
from pathlib import Path

rows, out = [], {}
for seed in sys.argv[1:]:
    r = json.loads(Path(f"runs/r{seed}.json").read_text())
    out[seed] = r
    g, s = r["goals"], r["shape"]
    worst = min(
        (v for v in g["style_recall>=0.8"][0].items()),
        key=lambda kv: int(kv[1].split("/")[0]) / int(kv[1].split("/")[1]),
    )
    hard = sum(int(v.split("/")[0]) for v in g["hard_negative_groups<=0.01"][0].values())
    hard_n = sum(int(v.split("/")[1]) for v in g["hard_negative_groups<=0.01"][0].values())
    rows.append(
        f"| {seed} | {s['accounts']:,} / {s['exchanges']:,} / {s['campaign_share']:.0%} | "
        f"{g['tpr>=0.95'][0]} | "
        f"{g['fpr<=0.005'][0]} | {worst[0]} {worst[1]} | {hard}/{hard_n} | {g['auroc>=0.99'][0]:.4f} | "
        f"{g['tpr_at_fpr1%>=0.95'][0]} | {g['ari>=0.9'][0]:.3f} | {g['no_benign_in_campaign'][0]} | "
        f"{r.get('cpu_s')} / {r.get('exchanges_per_cpu_minute'):,} |"
    )
print("\n".join(rows))
Path("docs/evidence/detect/detscale/results.json").write_text(json.dumps(out, indent=1, default=str))
