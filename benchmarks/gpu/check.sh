#!/usr/bin/env bash
# One command for a CUDA machine: every suite's paper-scale config, 20 G steps each, bf16 autocast.
#   bash benchmarks/gpu/check.sh            # DATA=digits bash ... to swap the suites' dataset
# For each suite: train 10 steps on one GPU, resume to 20 (checks the checkpoint resumes and the loss
# stays finite: a non-finite loss exits 3), then, with 2+ GPUs, 20 steps under torchrun on two.
# Prints s/step per suite (from log.jsonl: the last window, after the resume). Exit status 1 if any fails.
# Settings (environment): PYTHON (python3), WORK (run folders; a new temp folder), LIMIT (seconds per
# training command, 900), SUITES (names to check, all), SCALE (paper; `SCALE=cpu STEPS=200` times the
# cpu scale on the GPU), EVAL (1: keep the config's metrics, evaluated at the last step: the cpu
# scales' MNIST-CNN metrics ship with ganzoo; the paper scales' Inception needs its weights on disk),
# and for a dry run without a GPU:
#   DEVICE=cpu BATCH=2 STEPS=2 SUITES=selfmod-where bash benchmarks/gpu/check.sh
set -u
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-20}
LIMIT=${LIMIT:-900}
WORK=${WORK:-$(mktemp -d /tmp/ganzoo-gpu-check.XXXXXX)}
mkdir -p "$WORK"
NGPU=0
if [ "$DEVICE" != cpu ]; then
  NGPU=$(nvidia-smi -L 2>/dev/null | wc -l)
  [ "$NGPU" -ge 1 ] || { echo "no CUDA GPU (nvidia-smi -L lists none)"; exit 2; }
  nvidia-smi -L
fi
echo "run folders: $WORK"

# The first run of each suite at scale SCALE (paper), as a run config (metrics off unless EVAL=1).
"$PY" - "$WORK" "${DATA:-}" "$DEVICE" "$STEPS" "${BATCH:-}" "${SUITES:-}" "${SCALE:-paper}" "${EVAL:-0}" <<'PY' || exit 1
import json, sys
from ganzoo.registry import load_registry
from ganzoo.suite import expand, find_suite
out, data, device, steps, batch, only, scale, evaluate = sys.argv[1:9]
reg = load_registry()
for name in reg.names("suites"):
    if only and name not in only.split(","):
        continue
    suite = find_suite(name, reg)
    if scale not in suite.scales:
        continue
    raw = json.loads(expand(suite, scale, reg)[0].config.to_json())
    raw["train"].update(device=device, g_steps=int(steps) // 2)
    if batch:
        raw["train"].update(batch_size=int(batch))
    raw["fast"].update(bf16=True, channels_last=True, threads=None)
    raw["log"].update(log_every=max(1, int(steps) // 4), checkpoint_every=int(steps) // 2,
                      sample_every=0, sv_every=0)
    if evaluate == "1":
        raw["eval"].update(every=0)  # only at the end of each command: steps/2 and steps
    else:
        raw["eval"].update(metrics=[], every=0)
    if data:
        raw["data"].update(name=data, params={})
    json.dump(raw, open(f"{out}/{name}.json", "w"), indent=1)
    print(f"{name}: {raw['model']['name']} on {raw['data']['name']} {raw['data']['resolution']}px, "
          f"batch {raw['train']['batch_size']}")
PY

sps() { "$PY" -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if 'sec_per_step' in l]; print(f\"{r[-1]['sec_per_step']:.3f}\")" "$1/log.jsonl"; }
fail=0
for cfg in "$WORK"/*.json; do
  s=$(basename "$cfg" .json); run="$WORK/$s-1gpu"
  if timeout "$LIMIT" "$PY" -m ganzoo train "$cfg" --out "$run" --quiet \
     && timeout "$LIMIT" "$PY" -m ganzoo train "$cfg" --out "$run" --quiet --resume --set train.g_steps="$STEPS"; then
    echo "$s 1 $DEVICE: ok, $(sps "$run") s/step"
    [ -s "$run/metrics.jsonl" ] && tail -n 3 "$run/metrics.jsonl" | cut -c1-200
  else echo "$s 1 $DEVICE: FAILED (exit $?; see above)"; fail=1; fi
  if [ "$NGPU" -ge 2 ]; then
    run2="$WORK/$s-2gpu"
    if timeout "$LIMIT" "$PY" -m torch.distributed.run --standalone --nproc_per_node 2 -m ganzoo train "$cfg" \
         --out "$run2" --quiet --set train.g_steps="$STEPS"; then
      echo "$s 2 GPUs: ok, $(sps "$run2") s/step"
    else echo "$s 2 GPUs: FAILED"; fail=1; fi
  fi
done
exit $fail
