"""Collect detcalib's dev results (runs/ev/TAG/*.json, written by the detgroups harness through drive.py or
members_apart.py) and the fresh seeds' scores (runs/fresh/ and runs/fresh2/rSEED-{main,calib}.json, from
fresh.sh and fresh2.sh) into results.json beside this file."""

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
    "base2": "main at 449d564 (members_apart.py run from a git archive export)",
    "fin": "FROZEN (588e84d): members apart + barred quiet joins + pooled reach one-sided (members_apart.py)",
}
out = {"variants": VARIANTS, "dev": {}, "fresh": {}, "fresh2": {}}
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
for f in sorted(glob.glob("runs/fresh2/r*-*.json")):
    name = os.path.basename(f)[1:-5]
    with open(f) as fh:
        out["fresh2"][name] = json.load(fh)
path = "docs/evidence/detect/detcalib/results.json"
NOTES = {
    "fresh2_note": "fresh seeds 2771, 2772 (benchmark shape) and 2773 (~300 shape), run once after the "
    "members-apart design was frozen and committed (588e84d); main = 449d564 exported with git archive; "
    "SEED-main / SEED-calib are docs/evidence/detect/detscale/score.py's outputs (fresh2.sh)",
}
if os.path.exists(path):  # the notes written by hand before (dev_note, fresh_note) stay
    with open(path) as fh:
        NOTES = {**{k: v for k, v in json.load(fh).items() if k.endswith("_note")}, **NOTES}
out.update(NOTES)
with open(path, "w") as fh:
    json.dump(out, fh, indent=1, sort_keys=True)
print("wrote", path)
