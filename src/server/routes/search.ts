/** Search: by an uploaded image (multipart, field `image`) or by an indexed item. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Query } from '../../api/library.js';
import type { ServerDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { itemJson, majority } from '../items.js';
import { decodeUpload } from '../query-image.js';
import type { ServerIndex } from '../server-index.js';
import { searchAnswerSchema, type SearchAnswerJson } from '../../api/schemas.js';

/** Multipart framing around the file: the limit on the body is the file's plus this. */
const MULTIPART_OVERHEAD = 64 * 1024;

/** The query string of a search by upload. */
function searchQuerystring(maxK: number) {
  return Type.Object(
    {
      k: Type.Optional(Type.Integer({ minimum: 1, maximum: maxK, default: 10, description: 'results to return' })),
      exclude_slide: Type.Optional(
        Type.String({ minLength: 1, maxLength: 256, description: "leave out this slide's items" }),
      ),
    },
    { additionalProperties: false },
  );
}

/** The query string of a search by an indexed item. */
function itemSearchQuerystring(maxK: number) {
  return Type.Object(
    {
      item: Type.Integer({ minimum: 0, maximum: 2147483647, description: 'search with this indexed item' }),
      include_self: Type.Optional(Type.Boolean({ default: false, description: 'keep the query item in the results' })),
      ...searchQuerystring(maxK).properties,
    },
    { additionalProperties: false },
  );
}

/** A query string as the handler sees it: validation has filled in the defaults. */
type WithDefaults<Q, D extends keyof Q> = Omit<Q, D> & Required<Pick<Q, D>>;
type SearchQuery = WithDefaults<Static<ReturnType<typeof searchQuerystring>>, 'k'>;
type ItemSearchQuery = WithDefaults<Static<ReturnType<typeof itemSearchQuerystring>>, 'k' | 'include_self'>;

async function answer(
  index: ServerIndex,
  query: Query,
  q: SearchQuery,
  item?: number,
): Promise<Omit<SearchAnswerJson, 'query'>> {
  const slide =
    q.exclude_slide === undefined ? undefined : { name: q.exclude_slide, rows: await index.slideRows(q.exclude_slide) };
  const { items, excluded } = await index.search(query, q.k, { slide, item });
  const results = items.map((found, i) => ({ rank: i + 1, distance: found.distance, ...itemJson(found) }));
  return { k: q.k, excluded, results, majority: majority(results.map((r) => r.label)) };
}

async function uploadedImage(request: FastifyRequest, maxBytes: number): Promise<{ name: string; bytes: Buffer }> {
  // Refuse an announced oversized body before reading any of it.
  const length = Number(request.headers['content-length']);
  if (length > maxBytes + MULTIPART_OVERHEAD)
    throw new HttpError(413, `the upload is ${length} bytes; the limit is ${maxBytes} bytes`);
  let part;
  try {
    part = await request.file();
  } catch (err) {
    if ((err as { code?: string }).code === 'FST_INVALID_MULTIPART_CONTENT_TYPE')
      throw new HttpError(415, "send the image as multipart/form-data in the field 'image'");
    throw err;
  }
  if (!part) throw new HttpError(400, "no file: send the image in the multipart field 'image'");
  if (part.fieldname !== 'image')
    throw new HttpError(400, `the file is in the field '${part.fieldname.slice(0, 64)}'; send it in the field 'image'`);
  try {
    return { name: part.filename, bytes: await part.toBuffer() };
  } catch (err) {
    if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE')
      throw new HttpError(413, `the upload is larger than the limit of ${maxBytes} bytes`);
    throw err;
  }
}

export function searchRoutes(app: FastifyInstance, { index, limits }: ServerDeps): void {
  app.post<{ Querystring: SearchQuery }>(
    '/api/search',
    {
      schema: { querystring: searchQuerystring(limits.maxK), response: { 200: searchAnswerSchema } },
      config: {
        access: 'search',
        auditIds: { slide: ['exclude_slide'] },
        doc: {
          summary: 'search with an uploaded image',
          description: `The image (JPEG, PNG, TIFF or WebP, at most ${limits.maxUploadBytes} bytes and ${limits.maxQueryPixels} pixels) is resized to the model's input and embedded; the k nearest indexed items come back, best first.`,
          tags: ['search'],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  properties: { image: { type: 'string', format: 'binary' } },
                  required: ['image'],
                },
              },
            },
          },
          errors: [400, 413, 415, 422],
        },
      },
    },
    async (request): Promise<SearchAnswerJson> => {
      const { name, bytes } = await uploadedImage(request, limits.maxUploadBytes);
      const size = index.model.inputSize;
      const query = await decodeUpload(bytes, size, limits.maxQueryPixels);
      // Decoded here, under the upload's limits; the library embeds the model-sized pixels.
      const found = await answer(index, { pixels: query.pixels, width: size, height: size }, request.query);
      return {
        query: { kind: 'upload', name, width: query.width, height: query.height, format: query.format },
        ...found,
      };
    },
  );

  app.get<{ Querystring: ItemSearchQuery }>(
    '/api/search',
    {
      schema: { querystring: itemSearchQuerystring(limits.maxK), response: { 200: searchAnswerSchema } },
      config: {
        access: 'search',
        auditIds: { item: ['item'], slide: ['exclude_slide'] },
        doc: {
          summary: 'search with an indexed item',
          description: 'The item itself is left out of its results unless include_self is true.',
          tags: ['search'],
          errors: [400, 404],
        },
      },
    },
    async (request): Promise<SearchAnswerJson> => {
      const q = request.query;
      const [item, vector] = await Promise.all([index.item(q.item), index.vector(q.item)]);
      if (!item || !vector) throw new HttpError(404, `no item ${q.item} in the index`);
      const found = await answer(index, vector, q, q.include_self ? undefined : item.row);
      return { query: { kind: 'item', item: itemJson(item) }, ...found };
    },
  );
}
