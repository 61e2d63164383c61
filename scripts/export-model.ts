// Exports a trained checkpoint as the shipped default model: F16 (half the size; the parity tests
// bound its error), same names and config.  Usage: node --import tsx scripts/export-model.ts IN OUT
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../src/model/checkpoint.js';

const [input, output] = process.argv.slice(2);
if (!input || !output) throw new Error('usage: export-model.ts IN.safetensors OUT.safetensors');
const model = await loadCheckpoint(input);
mkdirSync(dirname(output), { recursive: true });
await saveCheckpoint(output, model, 'F16');
process.stderr.write(`wrote ${output} (F16) from ${input}\n`);
