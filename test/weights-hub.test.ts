import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { randomModel, withTimmBackbone } from '../src/model/checkpoint.js';
import { encodeSafetensors } from '../src/model/safetensors.js';
import { listWeights, pullWeights, resolveBackbone } from '../src/weights/hub.js';
import { temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const CONFIG = { preset: 'test', neckChannels: 8, neckLayers: 1, gemP: 4.6, inputSize: 64 } as const;
const donor = randomModel(CONFIG, 21);
const checkpoint = Buffer.from(
  encodeSafetensors(
    new Map([...donor.weights].filter(([n]) => n.startsWith('backbone.')).map(([n, t]) => [n.slice(9), t])),
  ),
);
const digest = createHash('sha256').update(checkpoint).digest('hex');

/**
 * A stand-in for the hub: serves one checkpoint with its LFS ETag and honours Range; can send part
 * of a transfer once and hold the connection until `cut()` drops it.
 */
async function hub(options: { cutAfter?: number; etag?: string }) {
  const seen: (string | undefined)[] = [];
  let cut = options.cutAfter;
  let dropConnection = () => {};
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.headers.range);
    if (req.url !== '/timm/convnextv2_test.fake/resolve/main/model.safetensors') {
      res.writeHead(404).end();
      return;
    }
    const start = req.headers.range ? Number(/bytes=(\d+)-/.exec(req.headers.range)![1]) : 0;
    const body = checkpoint.subarray(start);
    res.writeHead(start ? 206 : 200, {
      'content-length': body.length,
      'x-linked-etag': `"${options.etag ?? digest}"`,
      ...(start ? { 'content-range': `bytes ${start}-${checkpoint.length - 1}/${checkpoint.length}` } : {}),
    });
    if (cut !== undefined) {
      res.write(body.subarray(0, cut));
      cut = undefined;
      dropConnection = () => res.destroy();
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    cut: () => dropConnection(),
    close: () => new Promise((r) => server.close(r)),
  };
}

test(
  'weights pull downloads, resumes an interrupted transfer with Range, checks SHA-256, and lists the result',
  { timeout: TIMEOUT },
  async (t) => {
    const cacheDir = await temporaryFolder('histoseek-weights-', t);
    const server = await hub({ cutAfter: 300_000 });
    // The connection drops once the client has written the part it was sent.
    await assert.rejects(
      pullWeights('convnextv2_test.fake', {
        cacheDir,
        endpoint: server.endpoint,
        onProgress: (done) => done >= 300_000 && server.cut(),
      }),
      /the transfer stopped at 300000 of \d+ bytes .*run the same command again to resume/,
    );
    const progress: number[] = [];
    const record = await pullWeights('timm/convnextv2_test.fake', {
      cacheDir,
      endpoint: server.endpoint,
      onProgress: (done) => progress.push(done),
    });
    await server.close();
    assert.equal(server.seen[1], 'bytes=300000-', 'the second request resumed where the first stopped');
    assert.ok(progress[0] > 300_000, 'progress counts from the bytes already there');
    assert.equal(record.sha256, digest);
    assert.deepEqual(record.licence, {
      name: 'CC-BY-NC-4.0',
      url: 'https://huggingface.co/timm/convnextv2_test.fake',
    });
    assert.deepEqual(await readFile(record.path), checkpoint);
    assert.deepEqual(
      (await listWeights(cacheDir)).map((w) => w.name),
      ['convnextv2_test.fake'],
    );
    const model = await withTimmBackbone(randomModel(CONFIG, 1), resolveBackbone('convnextv2_test.fake', cacheDir));
    assert.deepEqual(
      model.weights.get('backbone.stem.0.weight')!.data,
      donor.weights.get('backbone.stem.0.weight')!.data,
    );
  },
);

test(
  'a checksum mismatch discards the download; unknown names and models are clear errors',
  { timeout: TIMEOUT },
  async (t) => {
    const cacheDir = await temporaryFolder('histoseek-weights-', t);
    const server = await hub({ etag: 'f'.repeat(64) });
    await assert.rejects(
      pullWeights('convnextv2_test.fake', { cacheDir, endpoint: server.endpoint }),
      /checksum mismatch .* the download was discarded/,
    );
    assert.equal(existsSync(join(cacheDir, 'convnextv2_test.fake', 'model.safetensors')), false);
    await assert.rejects(
      pullWeights('convnextv2_nano.missing', { cacheDir, endpoint: server.endpoint }),
      /not found — check the model name/,
    );
    await assert.rejects(
      pullWeights('resnet50', { cacheDir, endpoint: server.endpoint }),
      /'resnet50' is neither a foundation model histoseek knows .* nor a timm ConvNeXt/,
    );
    await server.close();
    assert.throws(() => resolveBackbone('convnextv2_absent', cacheDir), /no cached weights of that name/);
  },
);
