/** Whether a collection is histoseek's own synthetic histology: the bundled models are fit for it and nothing else. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The `generator` both synthetic writers put in their manifest.json. */
export const SYNTHETIC_GENERATOR = 'histoseek synthetic H&E';

/** True when `root` or one of its two parents holds a synthetic collection's manifest (`index DIR/train` counts). */
export function isSyntheticCollection(root: string): boolean {
  let dir = resolve(root);
  for (let up = 0; up < 3; up++) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { generator?: unknown };
      if (typeof manifest.generator === 'string' && manifest.generator.startsWith(SYNTHETIC_GENERATOR)) return true;
    } catch {
      // No manifest here, or not ours: look one folder up.
    }
    dir = dirname(dir);
  }
  return false;
}
