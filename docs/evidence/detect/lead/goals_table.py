"""One markdown row per scored detect run against issue 12's offline goals, bold where a goal is missed.

usage: goals_table.py NAME=PATH[:KEY] ...   PATH is a score.py output (rSEED-WHO.json), or a JSON holding
several under KEY, dotted for nesting (e.g. detpool/fresh.json:2831-main, detsplit/fresh.json:2801.split);
what is printed is read from the files, nothing typed.
"""

import json
import sys
from pathlib import Path
from typing import Any

HEAD = (
    "| log | accounts / exchanges | TPR | benign flagged | AUROC | TPR at FPR <= 1 % | ARI | styles < 0.8 "
    "| campaigns with a benign member |\n|---|---|---|---|---|---|---|---|---|"
)


def _load(spec: str) -> dict[str, Any]:
    path, _, key = spec.partition(":")
    data = json.loads(Path(path).read_text())
    for part in filter(None, key.split(".")):
        data = data[part]
    return data


def _cell(goal: list[Any], fmt: str = "{}") -> str:
    value, met = goal
    text = fmt.format(value)
    return text if met else f"**{text}**"


def row(name: str, result: dict[str, Any]) -> str:
    g, s = result["goals"], result["shape"]
    styles = g["style_recall>=0.8"][0]
    low = [f"{k} {v}" for k, v in styles.items() if int(v.split("/")[0]) < 0.8 * int(v.split("/")[1])]
    return (
        f"| {name} | {s['accounts']:,} / {s['exchanges']:,} | {_cell(g['tpr>=0.95'])} | "
        f"{_cell(g['fpr<=0.005'])} | {_cell(g['auroc>=0.99'], '{:.3f}')} | "
        f"{_cell(g['tpr_at_fpr1%>=0.95'])} | "
        f"{_cell(g['ari>=0.9'], '{:.3f}')} | {'**' + ', '.join(low) + '**' if low else 'none'} | "
        f"{_cell(g['no_benign_in_campaign'])} |"
    )


def main(specs: list[str]) -> None:
    print(HEAD)
    for spec in specs:
        name, _, path = spec.partition("=")
        print(row(name, _load(path)))


if __name__ == "__main__":
    main(sys.argv[1:])
