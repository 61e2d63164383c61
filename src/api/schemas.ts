/**
 * The JSON of the HTTP API and the library, as TypeBox schemas: fastify validates and serialises with them, the
 * OpenAPI document quotes them, and the TypeScript types of the handlers and of the web page are
 * derived from them (`Static`), so the types, the documentation and what is sent cannot drift apart.
 *
 * The page (web/src/api.ts) imports this module's types with `import type`, so TypeBox is not
 * bundled; its type check reads this module without Node's types, so it imports nothing but TypeBox
 * and modules that import nothing.
 */
import { Kind, Type, type SchemaOptions, type Static, type TSchema } from '@sinclair/typebox';
import type { EvalContext, RetrievalMetrics } from '../eval/metrics.js';
import { VECTOR_KINDS } from '../store/types.js';

/** `schema` or null, as `type: [its type, 'null']` (one schema that the serialiser and OpenAPI read as is, not an anyOf). */
function Nullable<T extends TSchema>(schema: T, options: SchemaOptions = {}) {
  return Type.Unsafe<Static<T> | null>({ ...schema, ...options, [Kind]: 'Unsafe', type: [schema.type, 'null'] });
}

/** One of `values`, as `{ type: 'string', enum }`. */
function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

/** Every error answer (4xx, 5xx). */
export const errorSchema = Type.Object({ error: Type.String({ description: 'what was wrong, for a person to read' }) });
export type ErrorJson = Static<typeof errorSchema>;

export const itemSchema = Type.Object({
  id: Type.Integer({ description: 'the row of the item in the index' }),
  path: Type.String({ description: 'the source image the item was indexed from' }),
  label: Type.String(),
  slide: Nullable(Type.String()),
  patient: Nullable(Type.String()),
  box: Nullable(Type.Object({ x: Type.Integer(), y: Type.Integer(), width: Type.Integer(), height: Type.Integer() }), {
    description: 'the level-0 box of a slide patch, when known',
  }),
  thumbnail: Type.String({ description: 'URL of a JPEG thumbnail (at most 256 px)' }),
});
export type ItemJson = Static<typeof itemSchema>;

export const searchResultSchema = Type.Object({
  rank: Type.Integer({ minimum: 1 }),
  distance: Type.Number({ description: 'squared L2 between unit descriptors (2 − 2·cosine; 0 is identical)' }),
  ...itemSchema.properties,
});
export type SearchResultJson = Static<typeof searchResultSchema>;

const majoritySchema = Type.Object({ label: Type.String(), votes: Type.Integer(), of: Type.Integer() });
/** The most frequent label among the results (a tie goes to the first-ranked). */
export type Majority = Static<typeof majoritySchema>;

export const searchAnswerSchema = Type.Object({
  query: Type.Union(
    [
      Type.Object({
        kind: Type.Literal('upload'),
        name: Type.String(),
        width: Type.Integer(),
        height: Type.Integer(),
        format: Type.String(),
      }),
      Type.Object({ kind: Type.Literal('item'), item: itemSchema }),
    ],
    { description: "what was searched with: an upload's size and format, or an indexed item" },
  ),
  k: Type.Integer(),
  excluded: Type.Integer({ description: 'rows left out of the search (the query item, a slide)' }),
  results: Type.Array(searchResultSchema),
  majority: Nullable(majoritySchema, {
    description: 'the most frequent label among the results (a tie goes to the first-ranked)',
  }),
});
export type SearchAnswerJson = Static<typeof searchAnswerSchema>;

export const indexInfoSchema = Type.Object({
  items: Type.Integer({ description: 'live items' }),
  rows: Type.Integer({ description: 'rows in the store (removed items included)' }),
  generation: Type.Integer({
    description: 'advances on every append and removal; the answers come from this generation',
  }),
  search: Type.Object(
    { mode: StringEnum(['exact', 'two-stage']), vectors: StringEnum(VECTOR_KINDS) },
    {
      description:
        "how queries are answered: 'exact' compares every item, 'two-stage' re-ranks graph candidates exactly; the stored precision",
    },
  ),
  labels: Type.Array(Type.Object({ label: Type.String(), count: Type.Integer() })),
  slides: Type.Array(Type.Object({ slide: Type.String(), count: Type.Integer() })),
  model: Type.Object({ id: Type.String(), hash: Type.String(), dim: Type.Integer(), input_size: Type.Integer() }),
  features: Type.Object(
    { report: Type.Boolean(), slides: Type.Boolean(), map: Type.Boolean() },
    { description: 'optional parts this server offers, for the web page to show or hide' },
  ),
});
export type IndexInfoJson = Static<typeof indexInfoSchema>;

/** A path parameter holding an item's row: anything but a plain integer is a 400 before the handler runs. */
export const itemIdParams = Type.Object({
  id: Type.Integer({ minimum: 0, maximum: 2147483647, description: 'the item (its row in the index)' }),
});

/** An evaluation report's metrics.json, as /api/report serves it (read from the file, so not checked field by field). */
export const reportSchema = Type.Unsafe<{ context: EvalContext } & RetrievalMetrics>({
  type: 'object',
  additionalProperties: true,
  description: "metrics.json: η_p, η_w, η_w', η_tot, Recall@k, mAP@10, MV@5, labels, confusion, per_class, context",
});
export type ReportJson = Static<typeof reportSchema>;

/** Most items a map places: a larger index is mapped through a sample (embedding-map.ts). */
export const MAP_SAMPLE = 5000;

const PROJECTIONS = ['umap', 'pca'] as const;

export const mapQuerystring = Type.Object(
  { method: Type.Optional(StringEnum(PROJECTIONS, { default: 'umap' })) },
  { additionalProperties: false },
);

export const mapSchema = Type.Object({
  method: StringEnum(PROJECTIONS),
  items: Type.Integer({ description: 'live items in the index' }),
  sampled: Type.Integer({ description: `items mapped (at most ${MAP_SAMPLE}, evenly spaced)` }),
  points: Type.Array(Type.Object({ id: Type.Integer(), x: Type.Number(), y: Type.Number(), label: Type.String() })),
});
export type MapJson = Static<typeof mapSchema>;

export const slideListSchema = Type.Object({ slides: Type.Array(Type.String()) });
export type SlideListJson = Static<typeof slideListSchema>;

export const deepZoomSchema = Type.Object({
  id: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
  mpp: Nullable(Type.Object({ x: Type.Number(), y: Type.Number() }), { description: 'microns per level-0 pixel' }),
  tileSize: Type.Integer(),
  overlap: Type.Integer(),
  format: Type.Literal('jpeg'),
  minLevel: Type.Integer({
    description: 'the coarsest level served (coarser ones would read too much of a slide without a pyramid)',
  }),
  maxLevel: Type.Integer(),
  tiles: Type.String({ description: 'tile URLs are `${tiles}${level}/${col}_${row}.jpeg`' }),
});
export type DeepZoomInfo = Static<typeof deepZoomSchema>;
