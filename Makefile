# Two commands: `make run` (set up and run Accord) and `make test` (set up and run the tests).
.PHONY: run demo test lint bench setup

run: setup
	.venv/bin/accord serve

demo: setup
	.venv/bin/accord demo

setup:
	@bash scripts/setup.sh

test:
	@bash scripts/setup.sh test
	@bash scripts/test-services.sh
	.venv/bin/ruff check agents orchestrator gateway policies tests bench
	.venv/bin/mypy
	.venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint:
	@bash scripts/setup.sh test
	.venv/bin/ruff check agents orchestrator gateway policies tests bench
	.venv/bin/mypy
