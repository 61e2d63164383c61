import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { project, silhouetteScore } from '../src/map/projection.js';
import { labelColours, PALETTE, renderMapPng } from '../src/map/render.js';
import { Random } from '../src/util/random.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const DIM = 512;

/** `perLabel` points around each of `labels` random centres (unit-variance noise per dimension, centres ~N(0, 1)). */
function clusters(
  labels: number,
  perLabel: number,
  seed: number,
  noise = 0.8,
): { vectors: Float32Array; labels: string[] } {
  const random = new Random(seed);
  const centres = Array.from({ length: labels }, () => random.fillNormal(new Float32Array(DIM)));
  const n = labels * perLabel;
  const vectors = new Float32Array(n * DIM);
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % labels;
    names.push(`class ${k}`);
    for (let d = 0; d < DIM; d++) vectors[i * DIM + d] = centres[k][d] + noise * random.normal();
  }
  return { vectors, labels: names };
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const random = new Random(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const SET = clusters(6, 60, 1);
const N = SET.labels.length;

const SEED = 7;
const MAPS = {
  umap: project(SET.vectors, N, DIM, { method: 'umap', seed: SEED }),
  pca: project(SET.vectors, N, DIM, { method: 'pca', seed: SEED }),
};

for (const method of ['umap', 'pca'] as const) {
  test(`${method}: well-separated clusters stay separated on the map, and labels matter`, { timeout: TIMEOUT }, () => {
    const { coords, sampledIndices } = MAPS[method];
    assert.equal(coords.length, 2 * N);
    assert.deepEqual([...sampledIndices], [...Array(N).keys()]);
    const real = silhouetteScore(coords, SET.labels);
    const chance = silhouetteScore(coords, shuffled(SET.labels, 3));
    assert.ok(real > 0.5, `silhouette ${real.toFixed(3)} with the true labels`);
    assert.ok(Math.abs(chance) < 0.1, `silhouette ${chance.toFixed(3)} with shuffled labels`);
  });

  test(`${method}: the same seed gives the same map`, { timeout: TIMEOUT }, () => {
    assert.deepEqual(project(SET.vectors, N, DIM, { method, seed: SEED }).coords, MAPS[method].coords);
  });
}

test('umap: another seed gives another layout', { timeout: TIMEOUT }, () => {
  assert.notDeepEqual(project(SET.vectors, N, DIM, { method: 'umap', seed: SEED + 1 }).coords, MAPS.umap.coords);
});

test('large collections are mapped through a seeded random sample', { timeout: TIMEOUT }, () => {
  const a = project(SET.vectors, N, DIM, { method: 'umap', seed: 5, sample: 100 });
  const b = project(SET.vectors, N, DIM, { method: 'umap', seed: 6, sample: 100 });
  assert.equal(a.sampledIndices.length, 100);
  assert.equal(a.coords.length, 200);
  assert.equal(new Set(a.sampledIndices).size, 100, 'no point drawn twice');
  assert.ok(
    a.sampledIndices.every((v, i) => i === 0 || v > a.sampledIndices[i - 1]),
    'ascending',
  );
  assert.ok(a.sampledIndices.every((v) => v < N));
  assert.notDeepEqual(a.sampledIndices, b.sampledIndices, 'the seed picks the sample');
  assert.deepEqual(
    project(SET.vectors, N, DIM, { method: 'umap', seed: 5, sample: 100 }).sampledIndices,
    a.sampledIndices,
  );
  // The sampled points keep their labels' structure.
  const labels = [...a.sampledIndices].map((i) => SET.labels[i]);
  assert.ok(silhouetteScore(a.coords, labels) > 0.5);
});

test('pca: coordinates are the projections on the two leading principal axes', { timeout: TIMEOUT }, () => {
  // Points spread 10× along one direction, 3× along an orthogonal one, little elsewhere.
  const random = new Random(4);
  const n = 400;
  const dim = 16;
  const u = new Float32Array(dim).fill(0);
  const v = new Float32Array(dim).fill(0);
  u[0] = u[1] = Math.SQRT1_2;
  v[2] = -1;
  const offset = 500; // keeps every row far from the origin, so scaling rows to unit length changes little
  const vectors = new Float32Array(n * dim);
  const truth: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const a = 10 * random.normal();
    const b = 3 * random.normal();
    truth.push([a, b]);
    for (let d = 0; d < dim; d++) vectors[i * dim + d] = a * u[d] + b * v[d] + 0.1 * random.normal();
    vectors[i * dim + dim - 1] += offset;
  }
  const { coords } = project(vectors, n, dim, { method: 'pca', seed: 0 });
  const column = (c: number) => Array.from({ length: n }, (_, i) => coords[2 * i + c]);
  const correlation = (x: number[], y: number[]) => {
    const mean = (z: number[]) => z.reduce((s, t) => s + t, 0) / z.length;
    const [mx, my] = [mean(x), mean(y)];
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    x.forEach((_, i) => {
      sxy += (x[i] - mx) * (y[i] - my);
      sxx += (x[i] - mx) ** 2;
      syy += (y[i] - my) ** 2;
    });
    return sxy / Math.sqrt(sxx * syy);
  };
  assert.ok(
    Math.abs(
      correlation(
        column(0),
        truth.map((t) => t[0]),
      ),
    ) > 0.99,
    'first axis follows the widest direction',
  );
  assert.ok(
    Math.abs(
      correlation(
        column(1),
        truth.map((t) => t[1]),
      ),
    ) > 0.95,
    'second axis follows the next one',
  );
  const variance = (z: number[]) => z.reduce((s, t) => s + t * t, 0) / z.length;
  assert.ok(variance(column(0)) > variance(column(1)), 'axes in order of variance');
});

test('silhouette score of a hand-worked example', { timeout: TIMEOUT }, () => {
  // Two pairs 10 apart, each pair 1 apart: a = 1, b = (10 + √101) / 2 for every point.
  const coords = Float32Array.from([0, 0, 0, 1, 10, 0, 10, 1]);
  const b = (10 + Math.sqrt(101)) / 2;
  assert.ok(Math.abs(silhouetteScore(coords, ['a', 'a', 'b', 'b']) - (b - 1) / b) < 1e-6);
  assert.throws(() => silhouetteScore(coords, ['a', 'a', 'a', 'a']), /distinct labels/);
});

test(
  'map PNG: requested size, a legend swatch in its own palette colour for every label',
  { timeout: TIMEOUT },
  async () => {
    const names = Array.from({ length: 24 }, (_, i) => `s${i}`);
    const random = new Random(9);
    const labels = Array.from({ length: 480 }, (_, i) => names[i % names.length]);
    const coords = Float32Array.from({ length: 2 * labels.length }, () => random.normal());
    const png = await renderMapPng(coords, labels, {
      title: 'Kimia-like map',
      subtitle: 'UMAP, 480 points',
      width: 900,
      height: 640,
    });
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 900);
    assert.equal(info.height, 640);
    const present = new Set<string>();
    for (let i = 0; i < data.length; i += 3)
      present.add(`#${[data[i], data[i + 1], data[i + 2]].map((v) => v.toString(16).padStart(2, '0')).join('')}`);
    const used = PALETTE.filter((c) => present.has(c));
    assert.equal(used.length, 24, `palette colours drawn: ${used.length}`);
    // Natural order: s2 before s10, colours follow it, and the same labels always get the same colours.
    const colours = labelColours(shuffled(labels, 1));
    assert.deepEqual([...colours.keys()], names);
    assert.deepEqual([...colours.values()], PALETTE.slice(0, 24));
    assert.ok(new Set(PALETTE).size === PALETTE.length && PALETTE.length >= 24);
  },
);
