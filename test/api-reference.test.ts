/**
 * docs/api/ is the API reference TypeDoc generates from src/index.ts's exports (`npm run docs:api`):
 * generated again into a temporary folder, it must come out file for file the same, so a change to
 * the public API or its TSDoc that was not regenerated fails here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, temporaryFolder } from './helpers.js';

const COMMITTED = join(ROOT, 'docs/api');

/**
 * TypeDoc numbers the colours of highlighted code (`hl-0`, `hl-1`… in assets/highlight.css) in the
 * order it meets them, which came out differently in one run of several here: the numbering is not
 * part of the content.
 */
const withoutColourNumbers = (page: string) => page.replace(/\bhl-\d+\b/g, 'hl-N');

const filesUnder = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();

test('docs/api/ is what `npm run docs:api` generates now', { timeout: 5 * 60_000 }, async (t) => {
  const out = await temporaryFolder('histoseek-api-reference-', t);
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 4 * 60_000,
  });
  assert.equal(r.status, 0, `typedoc (signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  const generated = filesUnder(out);
  assert.ok(generated.includes('functions/openIndex.html'), generated.join(', '));
  assert.deepEqual(filesUnder(COMMITTED), generated, 'pages added or removed: run `npm run docs:api`');
  for (const file of generated.filter((f) => f !== 'assets/highlight.css'))
    assert.ok(
      withoutColourNumbers(readFileSync(join(out, file), 'utf8')) ===
        withoutColourNumbers(readFileSync(join(COMMITTED, file), 'utf8')),
      `docs/api/${file} is out of date: run \`npm run docs:api\``,
    );
});
