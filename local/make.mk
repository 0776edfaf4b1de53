# The local stack (local/stack.py; docs/local-stack.md). Included from the Makefile.
# `make run` stays in the foreground until Ctrl-C; `make stop` stops it from another terminal.
# Ports: API_PORT, INGEST_PORT, ACTIONS_PORT, FIRESTORE_PORT, STORAGE_PORT, PUBSUB_PORT.
# `make run RUN_FLAGS=--no-demo` starts it without the demo data.

RUN_FLAGS ?=

run: check-tools venv
	$(BIN)/python -m local.stack up $(RUN_FLAGS)

stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m local.stack down; \
	else echo "The local stack is not running (no $(VENV) yet)."; fi
