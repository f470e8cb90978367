"""detsolo: how far the `common` signal (log 1 + prompts shared with other accounts) separates the
self-instruct accounts main misses from benign accounts, on the cached development tables (runs/cache).
Run it with common_sweep.patch applied (the `common` spec and the common-sweep p come from it).

For each log: the signal table and p-values scoring.score computes before any grouping (the code on
PYTHONPATH), the one-sided whole-log robust z of `common`; the three largest among benign accounts whose reach
no benign pattern explains; the benign accounts whose common-sweep p reaches 1e-4; and per self-instruct
account its z, one-sided reach tail and p_account (flagged alone at <= 1e-3). Cached tables have no
n_shared_outside column: `common` falls back to every shared prompt (organisations not told apart), which
can only raise benign values. Usage: PYTHONPATH=$PWD python separation.py > separation.json"""

import glob
import json
import os
import pickle

import pandas as pd

from distillscope.detect import calibrate as cal
from distillscope.detect import scoring


class _Stop(Exception):
    pass


def _pre_grouping(tables) -> pd.DataFrame:
    """The signal table with p-values and the z of every spec, as score() has it before grouping."""
    seen = {}
    original = cal.calibrate

    def spy(sig, specs):
        zs, ps = original(sig, specs)
        seen["sig"], seen["zs"] = sig, zs
        return zs, ps

    def stop(*_a, **_k):
        raise _Stop

    links = scoring.build_links
    scoring.cal.calibrate, scoring.build_links = spy, stop
    try:
        scoring.score(tables)
    except _Stop:
        pass
    finally:
        scoring.cal.calibrate, scoring.build_links = original, links
    sig = seen["sig"].copy()
    sig["z_common"] = seen["zs"]["common"].to_numpy()
    return sig


def main() -> None:
    out = {}
    for path in sorted(glob.glob("runs/cache/*.pkl")):
        name = os.path.basename(path)[:-4]
        with open(path, "rb") as handle:
            sig = _pre_grouping(pickle.load(handle))
        with open(f"runs/cache/{name}.labels.jsonl", encoding="utf-8") as handle:
            labels = {r["account"]: r for r in map(json.loads, handle)}
        style = pd.Series([labels.get(a, {}).get("style") for a in sig["account"]], index=sig.index)
        label = pd.Series([labels.get(a, {}).get("label") for a in sig["account"]], index=sig.index)
        benign = label == "benign"
        people = benign & (sig["explained"] == "")
        top = sig[people].sort_values("z_common", ascending=False).head(3)
        si = sig[style == "self_instruct"]
        out[name] = {
            "benign_people_top_z_common": [
                [labels[a]["style"], round(float(z), 2), int(n)]
                for a, z, n in zip(top["account"], top["z_common"], top["n"], strict=True)
            ],
            "benign_common_sweep_p_le_1e-4": int((benign & (sig["p_common_sweep"] <= 1e-4)).sum()),
            # per self-instruct account: z of common, one-sided reach tail, p_account (alone, with the sweep)
            "self_instruct": [
                [round(float(z), 2), round(float(r), 4), float(f"{p:.2g}"), int(n)]
                for z, r, p, n in zip(si["z_common"], si["p_reach"], si["p_account"], si["n"], strict=True)
            ],
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
