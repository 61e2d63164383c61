#!/usr/bin/env bash
# Reproduces a shipped model: its synthetic training data (seed 2; the demo's seed 1 stays unseen),
# training with its config, export of the best checkpoint as F16.
#   scripts/train-model.sh default   models/default/ from configs/default-model.yaml (labels: slides)
#   scripts/train-model.sh tissue    models/tissue/ from configs/tissue-model.yaml (labels: tissue classes)
# Further arguments go to `histoseek train` (e.g. --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  default)
    node bin/histoseek.js synth --out runs/synthetic-seed2 --seed 2
    model=models/default/lgffem-atto-c64-s128.safetensors ;;
  tissue)
    node bin/histoseek.js synth --out runs/synthetic-patches-seed2 --seed 2 --patches 400
    model=models/tissue/lgffem-atto-c64-s128-tissue.safetensors ;;
  *) echo "usage: scripts/train-model.sh default|tissue [histoseek train options]" >&2; exit 2 ;;
esac
name=$1
shift
node bin/histoseek.js train --config "configs/$name-model.yaml" "$@"
node --import tsx scripts/export-model.ts "runs/$name-model/best.safetensors" "$model"
