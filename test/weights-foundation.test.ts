import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { VitArch } from '../src/model/encoder.js';
import type { HostTensor } from '../src/model/host-tensor.js';
import { encodeSafetensors, parseSafetensors } from '../src/model/safetensors.js';
import { vitParameterSpecs } from '../src/model/vit-weights.js';
import { loadFoundationWeights } from '../src/weights/foundation-weights.js';
import { FOUNDATION_MODELS } from '../src/weights/foundation-models.js';
import { listWeights, pullWeights } from '../src/weights/hub.js';
import { readSafetensorsFile } from '../src/weights/safetensors-file.js';
import { readTorchStateDict } from '../src/weights/torch-checkpoint.js';
import { PickleFunction, unpickle } from '../src/weights/unpickle.js';
import { readVitCheckpoint } from '../src/weights/vit-checkpoint.js';
import { FIXTURES, startScript, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

// The environment must not lend these tests a token or a hub.
delete process.env.HF_TOKEN;
delete process.env.HF_ENDPOINT;

const TOKEN = 'hf_test_token';
const TORCH_BIN = join(FIXTURES, 'torch_vit_tiny.bin');
const checkpoint = await readFile(TORCH_BIN);
const digest = createHash('sha256').update(checkpoint).digest('hex');

/** The reduced ViT of test/fixtures/tools/make_torch_bin.py. */
const TINY: VitArch = {
  patchSize: 2,
  embedDim: 8,
  depth: 1,
  heads: 2,
  mlp: 'gelu',
  mlpHidden: 16,
  regTokens: 1,
  layerScale: true,
  posEmbedPrefix: false,
  posGrid: 2,
  pooling: 'class',
  imageSize: 4,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};

/** make_torch_bin.py's values: tensor k of the sorted names holds ((i % 17) - 8) / 16 + k / 64 at position i. */
function fixtureValues(k: number, count: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => ((i % 17) - 8) / 16 + k / 64);
}

interface HubOptions {
  /** The files the stand-in serves, by `repo/file`. */
  files: Record<string, Buffer>;
  /** Repositories that answer 401 without the token (403 with another). */
  gated?: string[];
  /** The digest the hub announces; the file's own by default. */
  etag?: string;
  /** The CDN sends this many bytes, once, then holds the connection until `cut()` drops it. */
  cutAfter?: number;
}

/**
 * A stand-in for the hub as it answers /resolve/: a redirect carrying X-Linked-Etag to a CDN on
 * another origin (another port), which serves the bytes and honours Range.
 */
async function hub(o: HubOptions) {
  const listen = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const hubRequests: { url: string; authorization?: string }[] = [];
  const cdnRequests: { url: string; authorization?: string; range?: string }[] = [];
  let cut = o.cutAfter;
  let dropConnection = () => {};
  const cdn = createServer((req: IncomingMessage, res: ServerResponse) => {
    cdnRequests.push({ url: req.url!, authorization: req.headers.authorization, range: req.headers.range });
    const body = o.files[decodeURIComponent(req.url!.replace(/^\/cdn\//, ''))];
    if (!body) return res.writeHead(404).end();
    const start = req.headers.range ? Number(/^bytes=(\d+)-$/.exec(req.headers.range)![1]) : 0;
    const rest = body.subarray(start);
    res.writeHead(start ? 206 : 200, {
      'content-length': rest.length,
      ...(start ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (cut === undefined) return res.end(rest);
    // Part of the file; the connection drops once the client says it has written that part.
    res.write(rest.subarray(0, cut));
    dropConnection = () => res.destroy();
    cut = undefined;
  });
  const cdnOrigin = await listen(cdn);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    hubRequests.push({ url: req.url!, authorization: req.headers.authorization });
    const match = /^\/(.+)\/resolve\/main\/([^/]+)$/.exec(req.url!);
    const key = match ? `${match[1]}/${match[2]}` : '';
    if (match && o.gated?.includes(match[1]) && req.headers.authorization !== `Bearer ${TOKEN}`)
      return res
        .writeHead(req.headers.authorization ? 403 : 401, {
          'x-error-code': 'GatedRepo',
          'x-error-message': `Access to model ${match[1]} is restricted.`,
        })
        .end();
    const body = o.files[key];
    if (!body) return res.writeHead(404).end('Entry not found');
    const sha = o.etag ?? createHash('sha256').update(body).digest('hex');
    res
      .writeHead(302, {
        location: `${cdnOrigin}/cdn/${encodeURIComponent(key)}`,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': body.length,
      })
      .end();
  });
  const endpoint = await listen(server);
  return {
    endpoint,
    hubRequests,
    cdnRequests,
    cut: () => dropConnection(),
    close: () =>
      Promise.all([server, cdn].map((s) => new Promise((resolve) => s.close(resolve)))).then(() => undefined),
  };
}

const UNI_FILE = { 'MahmoodLab/UNI/pytorch_model.bin': checkpoint };

test(
  'a gated model without a token gets a 401 naming HF_TOKEN and the licence page, and writes nothing',
  { timeout: TIMEOUT },
  async (t) => {
    const cacheDir = join(await temporaryFolder('histoseek-foundation-', t), 'cache');
    const server = await hub({ files: UNI_FILE, gated: ['MahmoodLab/UNI'] });
    t.after(server.close);
    const error = await pullWeights('uni', { cacheDir, endpoint: server.endpoint }).then(
      () => assert.fail('the pull succeeded without a token'),
      (err: Error) => err,
    );
    assert.match(
      error.message,
      /^MahmoodLab\/UNI: access denied \(HTTP 401: Access to model MahmoodLab\/UNI is restricted\.\)/,
    );
    assert.match(error.message, /set HF_TOKEN/);
    assert.match(
      error.message,
      /accept its licence \(CC-BY-NC-ND-4\.0\) at https:\/\/huggingface\.co\/MahmoodLab\/UNI/,
    );
    assert.equal(existsSync(cacheDir), false, 'nothing was written, not even the cache folder');
    assert.equal(server.cdnRequests.length, 0);

    // A token without access to the repository (403) is told so.
    await assert.rejects(
      pullWeights('uni', { cacheDir, endpoint: server.endpoint, token: 'hf_other' }),
      /HTTP 403: Access to model MahmoodLab\/UNI is restricted\.\) with the token in HF_TOKEN: accept its licence \(CC-BY-NC-ND-4\.0\) at https:\/\/huggingface\.co\/MahmoodLab\/UNI/,
    );
    assert.equal(existsSync(cacheDir), false);
  },
);

test(
  'with HF_TOKEN a gated model downloads from the CDN, is checksummed, and its licence is recorded',
  { timeout: TIMEOUT },
  async (t) => {
    const cacheDir = await temporaryFolder('histoseek-foundation-', t);
    const server = await hub({ files: UNI_FILE, gated: ['MahmoodLab/UNI'] });
    t.after(server.close);
    // The variables, not options: HF_ENDPOINT points at the stand-in, HF_TOKEN carries the token.
    process.env.HF_ENDPOINT = server.endpoint;
    process.env.HF_TOKEN = TOKEN;
    t.after(() => {
      delete process.env.HF_ENDPOINT;
      delete process.env.HF_TOKEN;
    });
    const record = await pullWeights('uni', { cacheDir });
    assert.equal(record.sha256, digest);
    assert.equal(record.checked, true);
    assert.equal(record.bytes, checkpoint.length);
    assert.equal(record.file, 'pytorch_model.bin');
    assert.deepEqual(record.licence, { name: 'CC-BY-NC-ND-4.0', url: 'https://huggingface.co/MahmoodLab/UNI' });
    assert.deepEqual(await readFile(join(cacheDir, 'uni', 'pytorch_model.bin')), checkpoint);
    const meta = JSON.parse(await readFile(join(cacheDir, 'uni', 'meta.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(meta.licence, record.licence);
    assert.equal(meta.repo, 'MahmoodLab/UNI');
    assert.deepEqual((await readdir(join(cacheDir, 'uni'))).sort(), ['meta.json', 'pytorch_model.bin']);
    assert.equal(server.hubRequests[0].authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(
      server.cdnRequests.map((r) => r.authorization),
      [undefined],
      'the token is never sent to the CDN, another origin',
    );
    assert.deepEqual(
      (await listWeights(cacheDir)).map((w) => [w.name, w.licence?.name]),
      [['uni', 'CC-BY-NC-ND-4.0']],
    );

    // Cached: a second pull asks the hub nothing.
    const again = await pullWeights('uni', { cacheDir });
    assert.equal(again.sha256, digest);
    assert.equal(server.hubRequests.length, 1);

    // The fixture is a reduced ViT, so loading it as UNI names what UNI's checkpoint needs and this one lacks.
    await assert.rejects(
      loadFoundationWeights('uni', cacheDir),
      (err: Error) =>
        err.message.startsWith(`${join(cacheDir, 'uni', 'pytorch_model.bin')}: does not match the model — `) &&
        /missing tensors: blocks\.1\.norm1\.weight, .* and 314 more/.test(err.message) &&
        /unexpected tensors: reg_token;/.test(err.message) &&
        /wrong shapes: .*cls_token is \[1, 1, 8\], expected \[1, 1, 1024\]/.test(err.message),
    );
    await assert.rejects(loadFoundationWeights('virchow2', cacheDir), /run 'histoseek weights pull virchow2' first/);
  },
);

test('an interrupted download resumes with Range where it stopped', { timeout: TIMEOUT }, async (t) => {
  const cacheDir = await temporaryFolder('histoseek-foundation-', t);
  const cutAfter = 4000;
  const server = await hub({ files: UNI_FILE, gated: ['MahmoodLab/UNI'], cutAfter });
  t.after(server.close);
  const o = { cacheDir, endpoint: server.endpoint, token: TOKEN };
  const interrupted = pullWeights('uni', { ...o, onProgress: (done) => done >= cutAfter && server.cut() });
  await assert.rejects(
    interrupted,
    /the transfer stopped at 4000 of 8899 bytes .*run the same command again to resume/,
  );
  const partial = join(cacheDir, 'uni', 'pytorch_model.bin.part');
  const kept = (await stat(partial)).size;
  assert.equal(kept, cutAfter, 'the part file holds what arrived');
  assert.equal(existsSync(join(cacheDir, 'uni', 'pytorch_model.bin')), false, 'no complete file before the end');
  assert.equal(existsSync(join(cacheDir, 'uni', 'meta.json')), false);

  const progress: number[] = [];
  const record = await pullWeights('uni', { ...o, onProgress: (done) => progress.push(done) });
  assert.equal(server.cdnRequests[1].range, `bytes=${kept}-`);
  assert.ok(progress[0] > kept, 'progress counts from the bytes already there');
  assert.equal(record.sha256, digest, 'the digest covers the kept part and the rest');
  assert.deepEqual(await readFile(record.path), checkpoint);
  assert.equal(existsSync(partial), false);
});

test(
  'a wrong checksum discards the download, whether the hub announced it or --sha256 did',
  { timeout: TIMEOUT },
  async (t) => {
    const cacheDir = await temporaryFolder('histoseek-foundation-', t);
    const server = await hub({ files: UNI_FILE, etag: 'e'.repeat(64) });
    t.after(server.close);
    await assert.rejects(
      pullWeights('uni', { cacheDir, endpoint: server.endpoint }),
      new RegExp(`checksum mismatch \\(SHA-256 ${digest}, expected ${'e'.repeat(64)}\\); the download was discarded`),
    );
    assert.deepEqual(await readdir(join(cacheDir, 'uni')), [], 'no part file, no checkpoint, no meta.json');
    const honest = await hub({ files: UNI_FILE });
    t.after(honest.close);
    await assert.rejects(
      pullWeights('uni', { cacheDir, endpoint: honest.endpoint, sha256: 'A'.repeat(64) }),
      /expected a{64}\); the download was discarded/,
    );
    assert.deepEqual(await readdir(join(cacheDir, 'uni')), []);
  },
);

test(
  'a repository without the preferred file falls back to the next; a file that is no checkpoint is refused',
  { timeout: TIMEOUT },
  async (t) => {
    const cacheDir = await temporaryFolder('histoseek-foundation-', t);
    const server = await hub({
      files: {
        'paige-ai/Virchow2/pytorch_model.bin': checkpoint,
        'owkin/phikon-v2/model.safetensors': Buffer.from('<html>'),
      },
    });
    t.after(server.close);
    const record = await pullWeights('virchow2', { cacheDir, endpoint: server.endpoint });
    assert.deepEqual(FOUNDATION_MODELS.virchow2.files, ['model.safetensors', 'pytorch_model.bin']);
    assert.equal(record.file, 'pytorch_model.bin');
    assert.deepEqual(
      server.hubRequests.map((r) => r.url),
      ['/paige-ai/Virchow2/resolve/main/model.safetensors', '/paige-ai/Virchow2/resolve/main/pytorch_model.bin'],
    );
    await assert.rejects(pullWeights('phikon-v2', { cacheDir, endpoint: server.endpoint }), /not a safetensors file/);
    assert.deepEqual(await readdir(join(cacheDir, 'phikon-v2')), []);
    await assert.rejects(
      pullWeights('h-optimus-0', { cacheDir, endpoint: server.endpoint }),
      /bioptimus\/H-optimus-0\/resolve\/main\/pytorch_model\.bin: not found — the repository holds none of pytorch_model\.bin/,
    );
  },
);

test(
  'a torch.save checkpoint is read without Python: float32, float16, bfloat16, strided and shared storages',
  { timeout: TIMEOUT },
  async () => {
    const weights = await readTorchStateDict(TORCH_BIN);
    const expected = vitParameterSpecs(TINY);
    assert.deepEqual([...weights.keys()].sort(), [...expected.keys()].sort());
    [...expected.keys()].sort().forEach((name, k) => {
      const tensor = weights.get(name)!;
      assert.deepEqual(tensor.shape, expected.get(name)!.shape, name);
      assert.deepEqual(tensor.data, fixtureValues(k, tensor.data.length), name);
    });
    const checked = await readVitCheckpoint(TORCH_BIN, { arch: TINY, naming: 'timm' });
    assert.equal(checked.size, 21);
  },
);

test(
  'a pickle that names anything but a state_dict’s globals is refused, and nothing runs',
  { timeout: TIMEOUT },
  async () => {
    await assert.rejects(
      readTorchStateDict(join(FIXTURES, 'torch_evil.bin')),
      /torch_evil\.bin \(torch_evil\/data\.pkl\): refusing to unpickle: it names the Python global posix\.system/,
    );
    const options = { globals: new Map(), persistentLoad: () => null, source: 'test.pkl' };
    // PROTO 2, GLOBAL 'builtins eval', SHORT string, TUPLE1, REDUCE, STOP.
    const evalCall = Buffer.from('\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1;\x85R.', 'latin1');
    assert.throws(
      () => unpickle(evalCall, options),
      /test\.pkl: refusing to unpickle: it names the Python global builtins\.eval/,
    );
    // NEWOBJ (0x81) builds arbitrary objects: not an opcode a state_dict uses.
    assert.throws(
      () => unpickle(Buffer.from([0x80, 0x02, 0x81, 0x2e]), options),
      /opcode 0x81 at byte 2 is not one a state_dict uses/,
    );
    // An allowed function is called with the pickled arguments, nothing else.
    const calls: unknown[] = [];
    const allowed = new Map([['m f', new PickleFunction('f', (args) => (calls.push(args), 'made'))]]);
    const reduce = Buffer.from('\x80\x02cm\nf\nK\x07\x85R.', 'latin1');
    assert.equal(unpickle(reduce, { ...options, globals: allowed }), 'made');
    assert.deepEqual(calls, [[7]]);
  },
);

/** Phikon-v2's layout: transformers' Dinov2Model names, no registers, pos_embed over the class token too. */
const TINY_DINO: VitArch = { ...TINY, regTokens: 0, posEmbedPrefix: true };

function filled(shape: number[], start: number): HostTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  // Multiples of 1/8 up to 64: exact in float16.
  return { shape, data: Float32Array.from({ length: count }, (_, i) => (start + i) / 8) };
}

test(
  'a Dinov2Model checkpoint (Phikon-v2) maps onto timm names: q, k, v stacked into qkv, mask_token dropped',
  { timeout: TIMEOUT },
  async (t) => {
    const d = TINY_DINO.embedDim;
    const layer = 'encoder.layer.0';
    const dino = new Map<string, HostTensor>([
      ['embeddings.cls_token', filled([1, 1, d], 1)],
      ['embeddings.mask_token', filled([1, d], 2)],
      ['embeddings.position_embeddings', filled([1, 5, d], 3)],
      ['embeddings.patch_embeddings.projection.weight', filled([d, 3, 2, 2], 4)],
      ['embeddings.patch_embeddings.projection.bias', filled([d], 5)],
      [`${layer}.norm1.weight`, filled([d], 6)],
      [`${layer}.norm1.bias`, filled([d], 7)],
      [`${layer}.attention.attention.query.weight`, filled([d, d], 100)],
      [`${layer}.attention.attention.key.weight`, filled([d, d], 200)],
      [`${layer}.attention.attention.value.weight`, filled([d, d], 300)],
      [`${layer}.attention.attention.query.bias`, filled([d], 400)],
      [`${layer}.attention.attention.key.bias`, filled([d], 410)],
      [`${layer}.attention.attention.value.bias`, filled([d], 420)],
      [`${layer}.attention.output.dense.weight`, filled([d, d], 8)],
      [`${layer}.attention.output.dense.bias`, filled([d], 9)],
      [`${layer}.layer_scale1.lambda1`, filled([d], 10)],
      [`${layer}.norm2.weight`, filled([d], 11)],
      [`${layer}.norm2.bias`, filled([d], 12)],
      [`${layer}.mlp.fc1.weight`, filled([16, d], 13)],
      [`${layer}.mlp.fc1.bias`, filled([16], 14)],
      [`${layer}.mlp.fc2.weight`, filled([d, 16], 15)],
      [`${layer}.mlp.fc2.bias`, filled([d], 16)],
      [`${layer}.layer_scale2.lambda1`, filled([d], 17)],
      ['layernorm.weight', filled([d], 18)],
      ['layernorm.bias', filled([d], 19)],
    ]);
    const path = join(await temporaryFolder('histoseek-foundation-', t), 'model.safetensors');
    await writeFile(path, encodeSafetensors(dino, {}, 'F16'));
    const weights = await readVitCheckpoint(path, { arch: TINY_DINO, naming: 'dinov2' });
    assert.deepEqual([...weights.keys()].sort(), [...vitParameterSpecs(TINY_DINO).keys()].sort());
    const qkv = weights.get('blocks.0.attn.qkv.weight')!;
    assert.deepEqual(qkv.shape, [3 * d, d]);
    assert.deepEqual(qkv.data.subarray(0, d * d), filled([d, d], 100).data, 'query rows first');
    assert.deepEqual(qkv.data.subarray(d * d, 2 * d * d), filled([d, d], 200).data, 'then key');
    assert.deepEqual(qkv.data.subarray(2 * d * d), filled([d, d], 300).data, 'then value');
    assert.deepEqual(weights.get('blocks.0.attn.qkv.bias')!.data.subarray(d, 2 * d), filled([d], 410).data);
    assert.deepEqual(weights.get('blocks.0.ls2.gamma'), filled([d], 17));
    assert.deepEqual(weights.get('pos_embed'), filled([1, 5, d], 3));
    assert.deepEqual(weights.get('norm.bias'), filled([d], 19));

    dino.delete(`${layer}.attention.attention.key.bias`);
    await writeFile(path, encodeSafetensors(dino));
    await assert.rejects(
      readVitCheckpoint(path, { arch: TINY_DINO, naming: 'dinov2' }),
      /blocks\.0\.attn\.qkv\.bias needs query, key and value; key missing/,
    );
  },
);

test(
  'the file reader decodes safetensors F16 and BF16 as the whole-file reader does',
  { timeout: TIMEOUT },
  async (t) => {
    const path = join(await temporaryFolder('histoseek-foundation-', t), 'w.safetensors');
    const tensors = new Map([
      ['a', { shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => Math.sin(i) * 1000) }],
      ['b', { shape: [7], data: Float32Array.from({ length: 7 }, (_, i) => 1 / (i + 1) - 0.3) }],
    ]);
    for (const dtype of ['F16', 'BF16'] as const) {
      const bytes = encodeSafetensors(tensors, { format: 'pt' }, dtype);
      await writeFile(path, bytes);
      assert.deepEqual(await readSafetensorsFile(path), parseSafetensors(bytes, path).tensors, dtype);
    }
  },
);

test(
  'a checkpoint with missing, mis-shaped or unexpected tensors gets an error naming them',
  { timeout: TIMEOUT },
  async () => {
    const fails = (arch: VitArch, problems: string) =>
      assert.rejects(readVitCheckpoint(TORCH_BIN, { arch, naming: 'timm' }), {
        message: `${TORCH_BIN}: does not match the model — ${problems}`,
      });
    await fails(
      { ...TINY, depth: 3 },
      'missing tensors: blocks.1.norm1.weight, blocks.1.norm1.bias, blocks.1.attn.qkv.weight, blocks.1.attn.qkv.bias, ' +
        'blocks.1.attn.proj.weight, blocks.1.attn.proj.bias, blocks.1.ls1.gamma, blocks.1.norm2.weight and 20 more',
    );
    await fails(
      { ...TINY, mlpHidden: 32 },
      'wrong shapes: blocks.0.mlp.fc1.weight is [16, 8], expected [32, 8], blocks.0.mlp.fc1.bias is [16], expected [32], ' +
        'blocks.0.mlp.fc2.weight is [8, 16], expected [8, 32]',
    );
    await fails(
      { ...TINY, regTokens: 0, layerScale: false },
      'unexpected tensors: blocks.0.ls1.gamma, blocks.0.ls2.gamma, reg_token',
    );
  },
);

test('histoseek weights pull shows the licence first; list shows it after', { timeout: TIMEOUT }, async (t) => {
  const cacheRoot = await temporaryFolder('histoseek-foundation-', t);
  const server = await hub({ files: UNI_FILE, gated: ['MahmoodLab/UNI'] });
  t.after(server.close);
  const script = `
    process.env.HISTOSEEK_CACHE = ${JSON.stringify(cacheRoot)};
    process.env.HF_ENDPOINT = ${JSON.stringify(server.endpoint)};
    delete process.env.HF_TOKEN;
    const { main } = await import('./src/cli/main.ts');
    const run = (args) => main(args).catch((err) => { process.stderr.write('error: ' + err.message + '\\n'); return 1; });
    const denied = await run(['weights', 'pull', 'uni']);
    process.env.HF_TOKEN = ${JSON.stringify(TOKEN)};
    const pulled = await run(['weights', 'pull', 'uni']);
    const listed = await run(['weights', 'list']);
    process.stdout.write('codes ' + [denied, pulled, listed].join(' ') + '\\n');
  `;
  const child = startScript(script);
  const timer = setTimeout(() => child.child.kill(), 60_000);
  const result = await child.done;
  clearTimeout(timer);
  assert.match(result.stdout, /^codes 1 0 0$/m, result.stderr);
  const licenceLine = 'uni: licence CC-BY-NC-ND-4.0 — read it at https://huggingface.co/MahmoodLab/UNI';
  const lines = result.stderr.split('\n');
  assert.equal(lines[0], licenceLine, 'the licence comes before anything else');
  assert.match(
    lines[1],
    /^error: MahmoodLab\/UNI: access denied \(HTTP 401: .*\): the repository is gated\. .*set HF_TOKEN/,
  );
  assert.equal(lines[2], licenceLine);
  assert.match(result.stdout, new RegExp(`^uni\\t0\\.0 MiB\\tCC-BY-NC-ND-4\\.0\\tsha256 ${digest.slice(0, 16)}…`, 'm'));
});

test(
  'the usage lists the seven foundation models with their licence and whether they are gated',
  { timeout: TIMEOUT },
  async () => {
    const { weightsCommand } = await import('../src/cli/weights-cmd.js');
    assert.deepEqual(Object.keys(FOUNDATION_MODELS), [
      'uni',
      'uni2-h',
      'virchow2',
      'h-optimus-0',
      'h-optimus-1',
      'prov-gigapath',
      'phikon-v2',
    ]);
    for (const [name, model] of Object.entries(FOUNDATION_MODELS)) {
      const row = weightsCommand.usage.split('\n').find((line) => line.trimStart().startsWith(`${name} `));
      assert.ok(row, `a row for ${name}`);
      assert.ok(row.includes(model.repo) && row.trimEnd().endsWith(model.licence.name), row);
      assert.equal(/ gated /.test(row), model.gated, row);
    }
  },
);
