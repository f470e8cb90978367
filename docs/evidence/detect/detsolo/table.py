"""detsolo: one line per full.sh result pair (main, solo): the issue-12 goals with denominators, the styles
below 0.8, and detect CPU (user + system). Usage: table.py runs/full/TAG-simSEED ...  (without -main/-solo)"""

import json
import re
import sys
from pathlib import Path


def cpu(time_file: Path) -> float:
    text = time_file.read_text()
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    return round(user + system, 1)


def main() -> None:
    for stem in sys.argv[1:]:
        for who in ("main", "solo"):
            r = json.loads(Path(f"{stem}-{who}.json").read_text())
            g = r["goals"]
            low = {s: v for s, v in g["style_recall>=0.8"][0].items() if eval(v) < 0.8}  # noqa: S307
            row = {
                "tp": g["tpr>=0.95"][0],
                "fp": g["fpr<=0.005"][0],
                "auroc": g["auroc>=0.99"][0],
                "tpr1": g["tpr_at_fpr1%>=0.95"][0],
                "ari": g["ari>=0.9"][0],
                "benign_camps": g["no_benign_in_campaign"][0],
                "hard": sum(int(v.split("/")[0]) for v in g["hard_negative_groups<=0.01"][0].values()),
                "hard_n": sum(int(v.split("/")[1]) for v in g["hard_negative_groups<=0.01"][0].values()),
                "self_instruct": g["style_recall>=0.8"][0].get("self_instruct"),
                "task_enumeration": g["style_recall>=0.8"][0].get("task_enumeration"),
                "below_0.8": low,
                "cpu_s": cpu(Path(f"{stem}-{who}.time")),
            }
            print(Path(stem).name, who, json.dumps(row))


if __name__ == "__main__":
    main()
