/**
 * What a search is asked with: an image (a file, encoded bytes, raw pixels: see image-input.ts) or
 * a descriptor of the index's model (`dim` values, normalised here). One function tells them apart;
 * a value of no kind, or a descriptor of the wrong width, is BAD_QUERY.
 */
import type { Embedder } from '../engine/embedder.js';
import { normaliseRows } from '../store/vectors/normalise.js';
import { HistoseekError } from '../util/errors.js';
import { embedImageInputs } from './embed-inputs.js';
import { describeValue, IMAGE_INPUT_FORMS, imageInputKind, type ImageInput, oneOf } from './image-input.js';

/** An image to embed, or a descriptor (`dim` values) of the index's model. */
export type Query = ImageInput | Float32Array;

type ClassifiedQuery = { kind: 'descriptor'; values: Float32Array } | { kind: 'image'; image: ImageInput };

/** How errors name query `q` of `count`: by its path, or by its place in a batch. */
function queryName(query: unknown, q: number, count: number): string {
  if (typeof query === 'string') return query;
  return count === 1 ? 'the query' : `query ${q} of the batch`;
}

/** Which kind query `q` is; BAD_QUERY for anything that is no image and no descriptor of `dim` finite values. */
export function classifyQuery(query: unknown, name: string, dim: number): ClassifiedQuery {
  if (query instanceof Float32Array) {
    if (query.length !== dim)
      throw new HistoseekError(
        'BAD_QUERY',
        `${name}: a query descriptor of this index has ${dim} values, got ${query.length}`,
      );
    if (!query.every(Number.isFinite))
      throw new HistoseekError('BAD_QUERY', `${name}: the query descriptor holds values that are not finite numbers`);
    return { kind: 'descriptor', values: query };
  }
  if (imageInputKind(query)) return { kind: 'image', image: query as ImageInput };
  throw new HistoseekError(
    'BAD_QUERY',
    `${name}: a query is ${oneOf([...IMAGE_INPUT_FORMS, 'a Float32Array descriptor'])}; got ${describeValue(query)}`,
  );
}

/** The normalised descriptors of the queries (queries.length × dim, in order); images are embedded `batch` at a time. */
export async function queryVectors(
  embedder: Embedder,
  queries: readonly unknown[],
  batch: number,
): Promise<Float32Array> {
  const dim = embedder.dimensions;
  const classified = queries.map((query, q) => classifyQuery(query, queryName(query, q, queries.length), dim));
  const out = new Float32Array(queries.length * dim);
  const images = classified.flatMap((c, q) => (c.kind === 'image' ? [{ q, image: c.image }] : []));
  if (images.length) {
    const raw = await embedImageInputs(
      embedder,
      images.map((i) => i.image),
      images.map((i) => queryName(queries[i.q], i.q, queries.length)),
      batch,
    );
    const vectors = normaliseRows(raw, dim);
    images.forEach((i, row) => out.set(vectors.subarray(row * dim, (row + 1) * dim), i.q * dim));
  }
  classified.forEach((c, q) => {
    if (c.kind === 'descriptor') out.set(normaliseRows(c.values, dim), q * dim);
  });
  return out;
}
