"""How a log's crowded addresses are shared, per labelled style: accounts per IP (the largest values) and, for
the styles behind pools (hydra, CGNAT, university), addresses per account and addresses a random pair shares.

Usage: python docs/evidence/detect/lead/address_pools.py SIM_DIR   (exchanges.jsonl and labels.jsonl inside)
"""

import collections
import json
import random
import statistics
import sys
from pathlib import Path


def main(sim: Path) -> None:
    with open(sim / "labels.jsonl") as fh:
        style = {r["account"]: r["style"] for r in map(json.loads, fh)}
    ips: dict[str, set[str]] = collections.defaultdict(set)
    users: dict[str, set[str]] = collections.defaultdict(set)
    with open(sim / "exchanges.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            ips[row["account"]].add(row.get("ip"))
            users[row.get("ip")].add(row["account"])
    for ip, accounts in sorted(users.items(), key=lambda kv: -len(kv[1]))[:40]:
        print(ip, len(accounts), collections.Counter(style[a] for a in accounts).most_common(2))
    rng = random.Random(1)
    for kind in ("hydra", "cgnat", "university"):
        accs = sorted(a for a, s in style.items() if s == kind)
        if len(accs) < 2:
            continue
        pairs = sorted(len(ips[a] & ips[b]) for a, b in (rng.sample(accs, 2) for _ in range(2000)))
        per_account = statistics.median(len(ips[a]) for a in accs)
        print(
            kind,
            f"{len(accs)} accounts, addresses per account median {per_account},",
            f"shared by a random pair median {statistics.median(pairs)}, p90 {pairs[1800]}",
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
