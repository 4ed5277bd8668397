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
"$PY" "$(dirname "$0")/first_runs.py" "$WORK" --device "$DEVICE" --steps $((STEPS / 2)) \
  --log-every $((STEPS / 4 > 0 ? STEPS / 4 : 1)) --scale "${SCALE:-paper}" --suites "${SUITES:-}" \
  ${BATCH:+--batch "$BATCH"} ${DATA:+--data "$DATA"} $([ "${EVAL:-0}" = 1 ] && echo --eval) || exit 1

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
