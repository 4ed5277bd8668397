#!/usr/bin/env bash
# Rebuild the committed cpu-scale tables: each suite in turn with 2 worker processes, continuing
# where the store (runs/bench/) or the committed exports (results/*.runs.jsonl) left off, then its
# tables, HTML page and the claims index in results/README.md.
#
#   benchmarks/cpu/run-all.sh                      # every suite, in the order below
#   benchmarks/cpu/run-all.sh selfmod-robustness   # only these suites
#   FINISH_BY=18:20 benchmarks/cpu/run-all.sh      # start only runs expected to end by 18:20
#
# Safe to stop (Ctrl-C or SIGTERM: runs stop at a step boundary) and to run again: finished runs
# are never redone. Every export is offered to every suite, because a run is its config: the
# robustness grid takes its 8 runs that selfmod-where already trained, biggan-ablation's row 9 is
# biggan-truncation's reference. `ganzoo bench ... --dry-run` says what a suite has left.
#
# Summed run time on a 2-core avx512_bf16 machine (no AMX), from the results files: selfmod-where
# 5 h, selfmod-conditional 8 h, biggan-truncation 3 h, pggan-mode-coverage 5 h; estimated from
# measured per-run times: biggan-ablation about 14 h, pggan-ablation about 35 h, selfmod-robustness
# about 50 h. Wall time is about half that with 2 workers: some 60 hours in all.
set -euo pipefail
cd "$(dirname "$0")/../.."

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
    suites=(selfmod-where selfmod-conditional biggan-truncation pggan-mode-coverage biggan-ablation
            selfmod-robustness pggan-ablation)
fi
exports=()
for f in results/*.runs.jsonl; do  # the cpu-scale exports (a smoke run's export sits beside them)
    if head -n 1 "$f" | grep -q '"scale":"cpu"'; then exports+=(--from-export "$f"); fi
done
for suite in "${suites[@]}"; do
    echo "== $suite: $(ganzoo bench --suite "$suite" --scale cpu --dry-run "${exports[@]}" | tail -n 1)"
    ganzoo bench --suite "$suite" --scale cpu --executor processes --workers 2 --quiet "${exports[@]}" \
        ${FINISH_BY:+--finish-by "$FINISH_BY"}
    ganzoo report --suite "$suite" --scale cpu --html
done
ganzoo report --index
