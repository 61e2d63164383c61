#!/usr/bin/env bash
# Reproduces the default model (models/default/): synthetic training data, training, export as F16.
set -euo pipefail
cd "$(dirname "$0")/.."
node bin/histoseek.js synth --out runs/synthetic-seed2 --seed 2
node bin/histoseek.js train --config configs/default-model.yaml "$@"
node --import tsx scripts/export-model.ts runs/default-model/best.safetensors models/default/lgffem-atto-c64-s128.safetensors
