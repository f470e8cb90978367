"""Collect detcalib's dev results (runs/ev/TAG/*.json, written by the detgroups harness through drive.py)
and the fresh seeds' scores (runs/fresh/rSEED-{main,calib}.json) into results.json beside this file."""

import glob
import json
import os

VARIANTS = {
    "base": "main's detector (median/MAD everywhere)",
    "reach2": "reach one-sided, cut 2.0; every use of p_reach (gates, grouping) on the one-sided tail",
    "reachB": "reach one-sided, cut 1.5; grouping on the whole log's tail, gates on the one-sided tail",
    "reachG1": "reachB + flagged-alone accounts stay in the topic graph (leave their groups after)",
    "reachG2": "reachB + the topic graph holds every typical-reach account (partial: stopped)",
    "reachC": "FROZEN (87ffbf9): reach one-sided as evidence, cut 1.5; gates and grouping on the whole log",
    "reachCM": "reachC + one-sided null in the member test of a topic group (partial: stopped on FPs)",
    "reachG3": "reachC + flagged-alone accounts kept in the topic groups' pool (partial: stopped)",
    "excl2": "reachC + member_reference.py (diagnostic after landing; not shipped)",
}
out = {"variants": VARIANTS, "dev": {}, "fresh": {}}
for tag in VARIANTS:
    logs = {}
    for f in sorted(glob.glob(f"runs/ev/{tag}/*.json")):
        with open(f) as fh:
            logs[os.path.basename(f)[:-5]] = json.load(fh)["rep"]
    out["dev"][tag] = logs
for f in sorted(glob.glob("runs/fresh/r*-*.json")):
    name = os.path.basename(f)[1:-5]
    with open(f) as fh:
        out["fresh"][name] = json.load(fh)
path = "docs/evidence/detect/detcalib/results.json"
with open(path, "w") as fh:
    json.dump(out, fh, indent=1, sort_keys=True)
print("wrote", path)
