#!/usr/bin/env bash
# cryoDRGN 4.3.1 `eval_vol` against `cryolatent eval-vol` on the same cryoDRGN weights: 100 latent points,
# box 64, 3 x 256, zdim 8 (the run of check_cryodrgn_decoder.py's README command), 2 threads, twice each,
# alternating. Prints wall seconds and peak RSS per run. Run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-bench/work/cryodrgn_dec64/train_vae}
W=bench/work/evalcmp
rm -rf "$W"; mkdir -p "$W"
.venv/bin/python -c "import numpy as np; np.savetxt('$W/z100.txt', np.random.default_rng(0).normal(size=(100, 8)))"
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
for rep in 1 2; do
  /usr/bin/time -f "cryodrgn eval_vol: %e s, peak RSS %M KB" bench/.venv-cryodrgn/bin/cryodrgn eval_vol \
    "$RUN/weights.pkl" -c "$RUN/config.yaml" --zfile "$W/z100.txt" -o "$W/theirs_$rep" --Apix 3.0 \
    > "$W/theirs_$rep.log" 2>&1
  tail -1 "$W/theirs_$rep.log"
  /usr/bin/time -f "cryolatent eval-vol: %e s, peak RSS %M KB" .venv/bin/cryolatent eval-vol "$RUN" \
    --zfile "$W/z100.txt" -o "$W/ours_$rep" --apix 3.0 --device cpu > "$W/ours_$rep.log" 2>&1
  tail -1 "$W/ours_$rep.log"
done
