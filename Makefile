# Shortcuts; the scripts are the source of truth.
.PHONY: test demo bench fuzz lint

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

bench:
	.venv/bin/python bench/decode.py
	.venv/bin/python bench/projections.py
	.venv/bin/python bench/server_push.py
	.venv/bin/python bench/end_to_end.py
	.venv/bin/python bench/many_threads.py

lint:
	.venv/bin/ruff check src tests bench fuzz
	.venv/bin/mypy
