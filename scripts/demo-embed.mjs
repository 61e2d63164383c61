// The README's first-run check until `histoseek demo` exists: writes a generated H&E-coloured
// image and embeds it with the built-in model.
import { mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';

const dir = 'histoseek-demo';
mkdirSync(dir, { recursive: true });
const size = 256;
const pixels = Buffer.alloc(size * size * 3);
for (let y = 0; y < size; y++) {
  for (let x = 0; x < size; x++) {
    const nucleus = Math.hypot((x % 32) - 16, (y % 32) - 16) < 6; // a lattice of haematoxylin-blue nuclei on eosin-pink stroma
    pixels.set(nucleus ? [70, 40, 140] : [230, 150, 190], (y * size + x) * 3);
  }
}
await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toFile(`${dir}/example.png`);
const run = spawnSync(process.execPath, ['bin/histoseek.js', 'embed', `${dir}/example.png`, '--out', `${dir}/example.safetensors`], { stdio: 'inherit' });
process.exit(run.status ?? 1);
