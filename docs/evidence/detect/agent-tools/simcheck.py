"""Dump one randomised scenario's rows and labels (run with the old and the new simulator, then compare)."""

import json
import sys
from pathlib import Path

from distillscope.simulate.randomized import generate

seed = int(sys.argv[1])
benign = int(sys.argv[2])
sim, labels = generate(seed, benign)
Path(sys.argv[3]).write_text(json.dumps({"rows": sim.rows, "labels": labels}))
