#!/usr/bin/env bash
# One command for a CUDA machine: every suite's paper-scale config, 20 G steps each, bf16 autocast.
#   bash benchmarks/gpu/check.sh            # DATA=digits bash ... if the suites' datasets are not on disk
# For each suite: train 10 steps on one GPU, resume to 20 (checks the checkpoint resumes and the loss
# stays finite: a non-finite loss exits 3), then, with 2+ GPUs, 20 steps under torchrun on two.
# Prints s/step per suite (from log.jsonl, the window after the first log line). Exit status 1 if any fails.
set -u
OUT=${OUT:-/tmp/ganzoo-gpu-check}
rm -rf "$OUT" && mkdir -p "$OUT"
NGPU=$(nvidia-smi -L 2>/dev/null | wc -l)
[ "$NGPU" -ge 1 ] || { echo "no CUDA GPU (nvidia-smi -L lists none)"; exit 2; }

# The first run of each suite at scale 'paper', as a run config (eval metrics off: no weights offline).
python - "$OUT" "${DATA:-}" <<'PY'
import json, sys
from ganzoo.registry import load_registry
from ganzoo.suite import expand, find_suite
out, data = sys.argv[1], sys.argv[2]
reg = load_registry()
for name in reg.names("suites"):
    suite = find_suite(name, reg)
    if "paper" not in suite.scales:
        continue
    raw = json.loads(expand(suite, "paper", reg)[0].config.to_json())
    raw["train"].update(device="cuda", g_steps=10)
    raw["fast"].update(bf16=True, channels_last=True, threads=None)
    raw["log"].update(log_every=5, checkpoint_every=10, sample_every=0, sv_every=0)
    raw["eval"].update(metrics=[], every=0)
    if data:
        raw["data"].update(name=data, params={})
    json.dump(raw, open(f"{out}/{name}.json", "w"), indent=1)
    print(f"{name}: {raw['model']['name']} on {raw['data']['name']} {raw['data']['resolution']}px, "
          f"batch {raw['train']['batch_size']}")
PY

sps() { python -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if 'sec_per_step' in l]; print(f\"{r[-1]['sec_per_step']:.3f}\")" "$1/log.jsonl"; }
fail=0
for cfg in "$OUT"/*.json; do
  s=$(basename "$cfg" .json); run="$OUT/$s-1gpu"
  if python -m ganzoo train "$cfg" --out "$run" --quiet \
     && python -m ganzoo train "$cfg" --out "$run" --quiet --resume --set train.g_steps=20; then
    echo "$s 1 GPU: ok, $(sps "$run") s/step"
  else echo "$s 1 GPU: FAILED (see above)"; fail=1; fi
  if [ "$NGPU" -ge 2 ]; then
    run2="$OUT/$s-2gpu"
    if torchrun --standalone --nproc_per_node 2 -m ganzoo train "$cfg" --out "$run2" --quiet --set train.g_steps=20; then
      echo "$s 2 GPUs: ok, $(sps "$run2") s/step"
    else echo "$s 2 GPUs: FAILED"; fail=1; fi
  fi
done
exit $fail
