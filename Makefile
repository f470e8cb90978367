# The two commands of the README:  `make demo`  and  `make test`.
.PHONY: setup demo serve test lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/distillscope demo $(DEMO_ARGS)

serve: setup
	.venv/bin/distillscope serve

# Two pytest-xdist workers (one per core of the reference machine); PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2

test: setup
	.venv/bin/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check distillscope tests bench docs
	.venv/bin/ruff format --check distillscope tests bench docs
