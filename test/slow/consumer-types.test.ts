/**
 * The published types, as a TypeScript user meets them: the packed package installed without
 * histoseek's dev dependencies (so no @types/better-sqlite3 or @types/pg), and a consumer using the
 * public API compiled strictly, with the package's own .d.ts checked too (skipLibCheck: false).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ROOT, temporaryFolder } from '../helpers.js';
import { installPackedHistoseek, runIn } from '../package-fixtures.js';

const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** Uses every export a consumer reaches for; compiles only if each is typed as documented. */
const CONSUMER = `import { readFileSync } from 'node:fs';
import {
  ERROR_CODES,
  HistoseekError,
  isHistoseekError,
  loadModel,
  openIndex,
  openSlide,
  rebuildGraph,
  upgradeIndex,
  type AddItem,
  type AddProgress,
  type Box,
  type ErrorCode,
  type IndexedItem,
  type Logger,
  type Query,
  type SearchResult,
} from 'histoseek';

const logger: Logger = { info: (m) => console.log(m), warn: (m) => console.warn(m) };
await using index = await openIndex('db', { mode: 'exact', threads: 2, logger });
const dim: number = index.model.dim;
const png: Buffer = readFileSync('query.png');

const byPath: SearchResult[] = await index.search('query.png', { k: 5, excludeSlide: 's1' });
const byBytes: SearchResult[] = await index.search(png);
const byPixels = await index.search({ pixels: new Uint8Array(32 * 32 * 3), width: 32, height: 32 });
const byDescriptor = await index.search(new Float32Array(dim));
const queries: Query[] = ['query.png', png, new Float32Array(dim)];
const batch: SearchResult[][] = await index.searchBatch(queries, { k: 3 });

const top = byPath[0];
const id: number = top.id;
const box: Box | null = top.box;
const area: number = box ? box.width * box.height : 0;
const where: [string, string, string | null, string | null] = [top.path, top.label, top.slide, top.patient];
const order: [number, number] = [top.rank, top.distance];
const item: IndexedItem | undefined = await index.get(id);
const vector: Float32Array | undefined = await index.vector(id);
console.log(byBytes, byPixels, byDescriptor, batch, area, where, order, item?.box?.x, vector?.length);

async function* patches(): AsyncIterable<AddItem> {
  yield { image: png, path: 'slide.svs', slide: 'slide', label: 'tumour', box: { x: 0, y: 0, width: 224, height: 224 } };
}
const controller = new AbortController();
const progress: AddProgress[] = [];
const report = await index.add(patches(), { onProgress: (p) => progress.push(p), signal: controller.signal });
const folder = await index.add('more', { layout: 'kimia', batch: 8 });
console.log(report.added, report.failures.map((f) => f.code), folder.live, await index.remove({ slide: 'slide' }));

const region = await index.searchRegion('slide.svs', { x: 0, y: 0, width: 448, height: 448 }, { k: 5 });
const regionBoxes: (Box | null)[] = region.results.map((r) => r.box);
const similar = await index.searchSlide('slide.svs', { includeOwnSlide: false });
const slideRanks: [string, number][] = similar.results.map((m) => [m.slide, m.rank]);
console.log(region.patches, regionBoxes, similar.mosaic, slideRanks);
await using created = await openIndex('new-db', { create: true, vectors: 'f16' });
const graph = await rebuildGraph('db');
const upgraded = await upgradeIndex('old-db', { vectors: 'i8' });
console.log((await created.info()).items, graph.items, upgraded.from);

try {
  await index.search(new Float32Array(1));
} catch (err) {
  if (err instanceof HistoseekError) {
    const code: ErrorCode = err.code;
    console.log(code === 'BAD_QUERY', err.message, ERROR_CODES.includes(code));
  }
  if (isHistoseekError(err, 'INDEX_LOCKED')) console.log('busy:', err.code);
}

await using slide = await openSlide('slide.tiff');
const levels: number = slide.info.levels.length;
const pixels: Uint8Array = await slide.readRegion(0, 0, 0, 64, 32);
for await (const tile of slide.patches()) console.log(tile.pixels.length);

await using model = await loadModel(undefined, { threads: 1 });
const descriptors: Float32Array = await model.embed(['a.png', png]);
console.log(levels, pixels.length, descriptors.length / model.dim);
`;

/** A field no box has: this must fail to compile, or the check above proves nothing. */
const WRONG = `import { openIndex } from 'histoseek';
await using index = await openIndex('db');
const [result] = await index.search(new Float32Array(index.model.dim));
console.log(result.box?.nope);
`;

let consumer: string;

before(
  async () => {
    // The declarations are what this file tests, and `npm test` builds only the JavaScript: build them.
    runIn(ROOT, 5 * 60_000, process.execPath, TSC, '-p', 'tsconfig.types.json');
    consumer = installPackedHistoseek(await temporaryFolder('histoseek-consumer-types-'));
    writeFileSync(join(consumer, 'consumer.ts'), CONSUMER);
    writeFileSync(join(consumer, 'wrong.ts'), WRONG);
  },
  { timeout: 12 * 60_000 },
);

/**
 * Compiles FILES in the consumer's folder strictly, checking every declaration file they reach, with
 * only the @types packages `types` visible and Node's globals (no DOM) unless `dom`.
 */
function compile(files: string[], types: string[], dom = false) {
  const options = {
    strict: true,
    skipLibCheck: false,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2024',
    lib: ['es2024', 'esnext.disposable', ...(dom ? ['dom'] : [])],
    types,
    noEmit: true,
  };
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files }));
  return spawnSync(process.execPath, [TSC, '-p', consumer, '--pretty', 'false'], {
    cwd: consumer,
    encoding: 'utf8',
    timeout: 3 * 60_000,
  });
}

test('the installed package has none of histoseek’s dev dependencies', { timeout: 10_000 }, () => {
  for (const dev of ['@types/better-sqlite3', '@types/pg', 'typescript', '@electric-sql/pglite'])
    assert.ok(!existsSync(join(consumer, 'node_modules', dev)), `${dev} was installed`);
  assert.ok(existsSync(join(consumer, 'node_modules/histoseek/dist/index.d.ts')));
});

test(
  'a consumer of the public API compiles with strict, nodenext, skipLibCheck: false and only @types/node',
  { timeout: 4 * 60_000 },
  () => {
    // Only @types/node and no DOM: the public types reach no dependency whose declarations need more.
    const r = compile(['consumer.ts'], ['node']);
    assert.equal(r.signal, null, 'tsc timed out');
    assert.equal(r.stdout + r.stderr, '');
    assert.equal(r.status, 0);
  },
);

test(
  'every published declaration file compiles without dev dependencies, reachable from the entry or not',
  { timeout: 4 * 60_000 },
  () => {
    const dist = join(consumer, 'node_modules/histoseek/dist');
    const declarations = readdirSync(dist, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.d.ts'))
      .map((f) => join(dist, f));
    assert.ok(declarations.length > 20, `${declarations.length} declaration files`);
    // Internal declarations reach onnx-proto's, which use @types/long's global Long, and
    // onnxruntime-common's, which name DOM types: both come with the runtime dependencies.
    const r = compile(declarations, ['node', 'long'], true);
    assert.equal(r.signal, null, 'tsc timed out');
    assert.equal(r.stdout + r.stderr, '');
    assert.equal(r.status, 0);
  },
);

test('a wrong use of a result’s box fails to compile, naming the field', { timeout: 4 * 60_000 }, () => {
  const r = compile(['wrong.ts'], ['node']);
  assert.equal(r.signal, null, 'tsc timed out');
  assert.equal(r.status, 2);
  assert.match(r.stdout, /wrong\.ts\(4,\d+\): error TS2339: Property 'nope' does not exist on type 'Box'/);
  // Only the deliberate error: the package's own declarations are clean.
  assert.equal(r.stdout.trim().split('\n').length, 1, r.stdout);
});
