/**
 * JSON schemas of the API's answers: fastify serialises with them and the OpenAPI document quotes
 * them, so the documentation cannot drift from what is sent.
 */
export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string', description: 'what was wrong, for a person to read' } },
  required: ['error'],
} as const;

export const itemSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer', description: 'the row of the item in the index' },
    path: { type: 'string', description: 'the source image the item was indexed from' },
    label: { type: 'string' },
    slide: { type: ['string', 'null'] },
    patient: { type: ['string', 'null'] },
    box: {
      type: ['object', 'null'],
      description: 'the level-0 box of a slide patch, when known',
      properties: { x: { type: 'integer' }, y: { type: 'integer' }, width: { type: 'integer' }, height: { type: 'integer' } },
    },
    thumbnail: { type: 'string', description: 'URL of a JPEG thumbnail (at most 256 px)' },
  },
  required: ['id', 'path', 'label', 'slide', 'thumbnail'],
} as const;

const resultSchema = {
  type: 'object',
  properties: {
    rank: { type: 'integer', minimum: 1 },
    distance: { type: 'number', description: 'squared L2 between unit descriptors (2 − 2·cosine; 0 is identical)' },
    ...itemSchema.properties,
  },
  required: ['rank', 'distance', ...itemSchema.required],
} as const;

export const searchAnswerSchema = {
  type: 'object',
  properties: {
    query: {
      type: 'object',
      description: "what was searched with: an upload's size and format, or an indexed item",
      properties: {
        kind: { type: 'string', enum: ['upload', 'item'] },
        name: { type: 'string' },
        width: { type: 'integer' },
        height: { type: 'integer' },
        format: { type: 'string' },
        item: itemSchema,
      },
      required: ['kind'],
    },
    k: { type: 'integer' },
    excluded: { type: 'integer', description: 'rows left out of the search (the query item, a slide)' },
    results: { type: 'array', items: resultSchema },
    majority: {
      type: ['object', 'null'],
      description: 'the most frequent label among the results (a tie goes to the first-ranked)',
      properties: { label: { type: 'string' }, votes: { type: 'integer' }, of: { type: 'integer' } },
      required: ['label', 'votes', 'of'],
    },
  },
  required: ['query', 'k', 'excluded', 'results', 'majority'],
} as const;

export const indexInfoSchema = {
  type: 'object',
  properties: {
    items: { type: 'integer', description: 'live items' },
    rows: { type: 'integer', description: 'rows in the store (removed items included)' },
    generation: { type: 'integer', description: 'advances on every append and removal; the answers come from this generation' },
    search: {
      type: 'object',
      description: "how queries are answered: 'exact' compares every item, 'two-stage' re-ranks graph candidates exactly; the stored precision",
      properties: { mode: { type: 'string', enum: ['exact', 'two-stage'] }, vectors: { type: 'string', enum: ['f32', 'f16', 'i8'] } },
      required: ['mode', 'vectors'],
    },
    labels: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, count: { type: 'integer' } }, required: ['label', 'count'] } },
    slides: { type: 'array', items: { type: 'object', properties: { slide: { type: 'string' }, count: { type: 'integer' } }, required: ['slide', 'count'] } },
    model: {
      type: 'object',
      properties: { id: { type: 'string' }, hash: { type: 'string' }, dim: { type: 'integer' }, input_size: { type: 'integer' } },
      required: ['id', 'hash', 'dim', 'input_size'],
    },
    features: {
      type: 'object',
      description: 'optional parts this server offers, for the web page to show or hide',
      properties: { report: { type: 'boolean' }, slides: { type: 'boolean' }, map: { type: 'boolean' } },
      required: ['report', 'slides', 'map'],
    },
  },
  required: ['items', 'rows', 'generation', 'search', 'labels', 'slides', 'model', 'features'],
} as const;

/** A path parameter holding an item's row: anything but a plain integer is a 400 before the handler runs. */
export const itemIdParams = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 0, maximum: 2147483647, description: 'the item (its row in the index)' } },
  required: ['id'],
} as const;
