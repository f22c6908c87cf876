# The two commands of the README: `make serve` (the main job) and `make test` (everything).
.PHONY: setup serve test

setup:
	./scripts/setup

serve: setup
	.venv/bin/sgguard serve

test: setup
	./scripts/test
