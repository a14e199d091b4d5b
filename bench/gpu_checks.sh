#!/usr/bin/env bash
# The GPU checks of issue 15 in one run, for a lent CUDA machine (run from the repo root; hubindex need not be
# installed there: it is installed editable, without dependencies, when `hubindex.sql` does not import). Results go to $OUT (or a temporary folder):
#   agreement.json       Delta Activations on CUDA (fp32, bf16) against the CPU's fp32, same model pair
#   throughput-*.json    load vs embed of a 0.47 B Llama in fp32 and bf16: embed/load (target <= 1.5), models/hour;
#                        the same on the machine's CPUs (throughput-cpu) as the run's baseline
#   zoo.json, zoo-cpu.json  the indexer on a zoo (ZOO, default .gpu/zoo): fingerprints, then the embedding stage,
#                        on the GPU and on the same machine's CPUs
set -u
out=${OUT:-$(mktemp -d)}; mkdir -p "$out"
py=${PYTHON:-python3}
zoo=${ZOO:-.gpu/zoo}
export PYTHONUNBUFFERED=1
# The catalog's migrations live in schemas/sql, mapped to hubindex.sql only by an install (pyproject package-dir).
$py -c "import hubindex.sql" 2>/dev/null || $py -m pip install -q --no-deps --no-build-isolation -e . || exit 1
ONLY=${ONLY:-}  # run the checks whose name starts with it (agreement, throughput, zoo)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$py -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda,
      'transformers', transformers.__version__, 'cpu threads', torch.get_num_threads())"
run() {  # name, seconds, command...: one check, bounded, its JSON kept and shown
  local name=$1 limit=$2; shift 2
  [[ -n "$ONLY" && "$name" != $ONLY* ]] && return
  echo "== $name"
  local start=$SECONDS
  timeout "$limit" "$@" --json > "$out/$name.json"
  echo "rc $? ($name, $((SECONDS - start)) s wall)"; cat "$out/$name.json"
}
run agreement 120 $py bench/delta_device_agreement.py --size small
run throughput-fp32 100 $py bench/delta_throughput.py --size 0.5b --skip-zoo
run throughput-bf16 100 env HUBINDEX_PROBE_DTYPE=bfloat16 $py bench/delta_throughput.py --size 0.5b --skip-zoo
run throughput-cpu 200 env HUBINDEX_DEVICE=cpu $py bench/delta_throughput.py --size 0.5b --skip-zoo  # baseline
if [ -f "$zoo/truth.json" ]; then  # the same zoo on the GPU, then on this machine's CPUs (the run's baseline)
  run zoo 120 $py bench/delta_throughput.py --zoo "$zoo" --skip-model
  run zoo-cpu 240 env HUBINDEX_DEVICE=cpu $py bench/delta_throughput.py --zoo "$zoo" --skip-model
fi
