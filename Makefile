# Branch Teller: `make run` installs and starts the demo branch; `make test` installs and tests.
.PHONY: install run test serve

install:
	bash scripts/install.sh

run: install
	.venv/bin/branch-teller demo

serve: install
	.venv/bin/branch-teller serve

test:
	bash scripts/test.sh
