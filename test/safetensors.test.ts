import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostTensor, type HostTensor } from '../src/model/host-tensor.js';
import {
  bf16ToF32,
  encodeSafetensors,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
} from '../src/model/safetensors.js';
import { temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

const IO_FIXTURE = fileURLToPath(new URL('./fixtures/lgffem_test_c32_io.safetensors', import.meta.url));
const SOURCE = 'model-under-test.safetensors';

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Gaussian-ish values spread over several orders of magnitude. */
function randomTensor(shape: number[], random: () => number): HostTensor {
  const t = hostTensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = (random() - 0.5) * 10 ** (random() * 6 - 3);
  return t;
}

/** Builds a raw safetensors file from a header object and a data buffer, as another writer might. */
function rawFile(
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  headerText = JSON.stringify(header),
): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerOf(bytes: Uint8Array): { length: number; json: Record<string, { data_offsets: number[] }> } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { length, json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) };
}

function bitsOf(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

test(
  'reads the PyTorch-written fixture: shapes, metadata, and values at the header offsets',
  { timeout: TIMEOUT },
  async () => {
    const file = await readSafetensors(IO_FIXTURE);
    assert.deepEqual(file.tensors.get('input')?.shape, [2, 3, 64, 64]);
    assert.deepEqual(file.tensors.get('embedding')?.shape, [2, 128]);
    assert.equal(file.metadata.layout, 'NCHW');

    // Cross-check the fast decode path against an independent per-element read of the raw bytes.
    const bytes = new Uint8Array(await readFile(IO_FIXTURE));
    const { length, json } = headerOf(bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset + 8 + length);
    for (const [name, tensor] of file.tensors) {
      const [begin] = json[name].data_offsets;
      for (let i = 0; i < tensor.data.length; i += 97) {
        assert.equal(tensor.data[i], view.getFloat32(begin + 4 * i, true), `${name}[${i}]`);
      }
    }
  },
);

test('F32 round trip is bit-exact, special values included', { timeout: TIMEOUT }, () => {
  const random = rng(1);
  const special = new Float32Array([0, -0, Infinity, -Infinity, NaN, 1e-45, -3.4028234663852886e38]);
  const tensors = new Map<string, HostTensor>([
    ['b.weight', randomTensor([3, 5, 7], random)],
    ['a.bias', randomTensor([11], random)],
    ['special', hostTensor([special.length], special)],
    ['scalar', hostTensor([], new Float32Array([42.5]))],
    ['empty', hostTensor([0, 4])],
  ]);
  const parsed = parseSafetensors(encodeSafetensors(tensors, { layout: 'NCHW' }), SOURCE);
  assert.deepEqual(parsed.metadata, { layout: 'NCHW' });
  assert.deepEqual([...parsed.tensors.keys()].sort(), [...tensors.keys()].sort());
  for (const [name, t] of tensors) {
    const back = parsed.tensors.get(name)!;
    assert.deepEqual(back.shape, t.shape, name);
    assert.deepEqual(bitsOf(back.data), bitsOf(t.data), name);
  }
});

/** Largest relative rounding error of a format with `mantissaBits` explicit bits, in its normal range. */
const unitRoundoff = (mantissaBits: number) => 2 ** -(mantissaBits + 1);

for (const [dtype, mantissaBits, min, max] of [
  ['F16', 10, 2 ** -14, 65504],
  ['BF16', 7, 2 ** -126, 3e38],
] as const) {
  test(`${dtype} round trip stays within the format's relative precision`, { timeout: TIMEOUT }, () => {
    const random = rng(dtype === 'F16' ? 2 : 3);
    const t = hostTensor([4096]);
    for (let i = 0; i < t.data.length; i++) {
      // Log-uniform magnitudes across the whole normal range, both signs.
      const magnitude = Math.exp(Math.log(min) + random() * (Math.log(max) - Math.log(min)));
      t.data[i] = Math.fround(random() < 0.5 ? -magnitude : magnitude);
    }
    const encoded = encodeSafetensors({ t }, {}, dtype);
    assert.equal(headerOf(encoded).json.t.data_offsets[1], 2 * t.data.length, 'two bytes per value');
    const back = parseSafetensors(encoded, SOURCE).tensors.get('t')!.data;
    let worst = 0;
    for (let i = 0; i < t.data.length; i++) {
      // Rounding to nearest never changes the sign.
      assert.equal(Math.sign(back[i]), Math.sign(t.data[i]), `sign of element ${i}`);
      worst = Math.max(worst, Math.abs(back[i] - t.data[i]) / Math.abs(t.data[i]));
    }
    assert.ok(worst <= unitRoundoff(mantissaBits), `worst relative error ${worst}`);
    assert.ok(worst > unitRoundoff(mantissaBits) / 4, `suspiciously exact: ${worst}; was it really rounded?`);
  });
}

test('f16 conversion: every half value round-trips, and special values are right', { timeout: TIMEOUT }, () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = f16ToF32(h);
    if (Number.isNaN(x)) {
      assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, `NaN only from a NaN pattern, got ${h}`);
      assert.ok(Number.isNaN(f16ToF32(f32ToF16(x))));
    } else {
      assert.equal(f32ToF16(x), h, `half 0x${h.toString(16)} = ${x}`);
    }
  }
  assert.ok(Object.is(f16ToF32(f32ToF16(-0)), -0));
  assert.equal(f16ToF32(f32ToF16(65504)), 65504);
  assert.equal(f16ToF32(f32ToF16(65519)), 65504, 'below the midpoint to infinity rounds down');
  assert.equal(f16ToF32(f32ToF16(65520)), Infinity, 'the midpoint ties to even: infinity');
  assert.equal(f16ToF32(f32ToF16(1e6)), Infinity);
  assert.equal(f16ToF32(f32ToF16(-1e6)), -Infinity);
  assert.equal(f16ToF32(f32ToF16(2 ** -24)), 2 ** -24, 'smallest subnormal');
  assert.equal(f16ToF32(f32ToF16(1.5 * 2 ** -24)), 2 ** -23, 'subnormal tie to even rounds up');
  assert.equal(f16ToF32(f32ToF16(2.5 * 2 ** -24)), 2 ** -23, 'subnormal tie to even rounds down');
  assert.ok(Object.is(f16ToF32(f32ToF16(2 ** -25)), 0), 'half the smallest subnormal ties to zero');
  assert.equal(f16ToF32(f32ToF16(0.75 * 2 ** -24)), 2 ** -24);
  assert.equal(f16ToF32(f32ToF16(1 + 2 ** -11)), 1, 'normal tie to even rounds down');
  assert.equal(f16ToF32(f32ToF16(1 + 3 * 2 ** -11)), 1 + 2 ** -9, 'normal tie to even rounds up');
  assert.equal(f16ToF32(f32ToF16(2 ** -14 - 2 ** -25)), 2 ** -14, 'largest subnormal rounds up into the normals');
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
});

test('bf16 conversion: every bf16 value round-trips, and ties go to even', { timeout: TIMEOUT }, () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = bf16ToF32(h);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(x))));
    else assert.equal(f32ToBf16(x), h, `bf16 0x${h.toString(16)} = ${x}`);
  }
  assert.ok(Object.is(bf16ToF32(f32ToBf16(-0)), -0));
  assert.equal(bf16ToF32(f32ToBf16(1 + 2 ** -8)), 1, 'tie to even rounds down');
  assert.equal(bf16ToF32(f32ToBf16(1 + 3 * 2 ** -8)), 1 + 2 ** -6, 'tie to even rounds up');
  assert.equal(bf16ToF32(f32ToBf16(3.4028234663852886e38)), Infinity, 'float32 max rounds up to infinity');
  assert.equal(bf16ToF32(f32ToBf16(-Infinity)), -Infinity);
  // A NaN whose payload sits only in the low 16 bits must not truncate to infinity.
  const lowPayloadNaN = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0];
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(lowPayloadNaN))));
});

test(
  'encoded files have an 8-byte-multiple header, sorted contiguous tensors, and re-parse',
  { timeout: TIMEOUT },
  () => {
    const random = rng(4);
    const tensors = {
      zeta: randomTensor([3], random),
      alpha: randomTensor([2, 2], random),
      mid: randomTensor([5], random),
    };
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const bytes = encodeSafetensors(tensors, { note: 'ünïcode' }, dtype);
      const { length, json } = headerOf(bytes);
      assert.equal(length % 8, 0, `${dtype} header length ${length}`);
      const names = Object.keys(json).filter((k) => k !== '__metadata__');
      assert.deepEqual(names, ['alpha', 'mid', 'zeta']);
      let offset = 0;
      for (const name of names) {
        assert.equal(json[name].data_offsets[0], offset, `${name} starts where the previous tensor ended`);
        offset = json[name].data_offsets[1];
      }
      assert.equal(bytes.length, 8 + length + offset, 'no bytes beyond the last tensor');
      const parsed = parseSafetensors(bytes, SOURCE);
      assert.equal(parsed.metadata.note, 'ünïcode');
      assert.deepEqual(parsed.tensors.get('alpha')?.shape, [2, 2]);
    }
  },
);

test('reads F64, I64, I32, U8 and F16 tensors at unaligned offsets', { timeout: TIMEOUT }, () => {
  const data = new Uint8Array(3 + 8 * 2 + 8 * 2 + 4 * 2 + 2 * 2);
  const view = new DataView(data.buffer);
  data.set([0, 7, 255]);
  view.setFloat64(3, 1.25, true);
  view.setFloat64(11, -1e300, true);
  view.setBigInt64(19, -5n, true);
  view.setBigInt64(27, 123456789n, true);
  view.setInt32(35, -7, true);
  view.setInt32(39, 2 ** 30, true);
  view.setUint16(43, f32ToF16(-2.5), true);
  view.setUint16(45, f32ToF16(0.1), true);
  const bytes = rawFile(
    {
      u8: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
      f64: { dtype: 'F64', shape: [2], data_offsets: [3, 19] },
      i64: { dtype: 'I64', shape: [2, 1], data_offsets: [19, 35] },
      i32: { dtype: 'I32', shape: [2], data_offsets: [35, 43] },
      f16: { dtype: 'F16', shape: [2], data_offsets: [43, 47] },
    },
    data,
  );
  const { tensors, metadata } = parseSafetensors(bytes, SOURCE);
  assert.deepEqual(metadata, {});
  assert.deepEqual([...tensors.get('u8')!.data], [0, 7, 255]);
  assert.deepEqual([...tensors.get('f64')!.data], [1.25, -Infinity]);
  assert.deepEqual(tensors.get('i64')!.shape, [2, 1]);
  assert.deepEqual([...tensors.get('i64')!.data], [-5, Math.fround(123456789)]);
  assert.deepEqual([...tensors.get('i32')!.data], [-7, 2 ** 30]);
  assert.deepEqual([...tensors.get('f16')!.data], [-2.5, f16ToF32(f32ToF16(0.1))]);

  // F32 at an offset that is not a multiple of 4 goes through the same copying path.
  const f32 = new Uint8Array(1 + 8);
  new DataView(f32.buffer).setFloat32(1, 3.5, true);
  new DataView(f32.buffer).setFloat32(5, -0.25, true);
  const odd = rawFile({ x: { dtype: 'F32', shape: [2], data_offsets: [1, 9] } }, f32);
  assert.deepEqual([...parseSafetensors(odd, SOURCE).tensors.get('x')!.data], [3.5, -0.25]);

  // The file's bytes may themselves sit at an odd offset in a larger buffer (a subarray, a pooled Buffer).
  for (const file of [bytes, odd]) {
    const embedded = new Uint8Array(file.length + 3);
    embedded.set(file, 3);
    for (const shifted of [embedded.subarray(3), Buffer.from(embedded.buffer, 3, file.length)]) {
      assert.deepEqual(parseSafetensors(shifted, SOURCE), parseSafetensors(file, SOURCE));
    }
  }
});

test('malformed files throw errors that name the file and the problem', { timeout: TIMEOUT }, () => {
  const entry = (e: Record<string, unknown>) =>
    rawFile({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...e } }, new Uint8Array(8));
  const good = entry({});
  const oversizedHeader = good.slice();
  new DataView(oversizedHeader.buffer).setBigUint64(0, 1n << 40n, true);
  const pastEnd = good.slice();
  new DataView(pastEnd.buffer).setBigUint64(0, BigInt(good.length), true);
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', new Uint8Array(5), /shorter than/],
    ['absurd header length', oversizedHeader, /absurd/],
    ['header past the end', pastEnd, /past the end/],
    ['truncated data', good.subarray(0, good.length - 1), /outside/],
    ['garbage JSON', rawFile(null, new Uint8Array(0), '{"t": {dtype'), /not valid UTF-8 JSON/],
    ['header not an object', rawFile([1, 2]), /not a JSON object/],
    ['missing dtype', entry({ dtype: undefined }), /dtype/],
    ['missing shape', entry({ shape: undefined }), /shape/],
    ['missing data_offsets', entry({ data_offsets: undefined }), /data_offsets/],
    ['unknown dtype', entry({ dtype: 'C64' }), /unsupported dtype C64/],
    ['negative dimension', entry({ shape: [-2] }), /negative or non-integer/],
    ['fractional dimension', entry({ shape: [1.5] }), /negative or non-integer/],
    ['offsets out of the buffer', entry({ data_offsets: [4, 12] }), /outside/],
    ['wrong byte length', entry({ shape: [3] }), /needs 12 bytes/],
    ['non-string metadata', rawFile({ __metadata__: { epoch: 3 } }), /not a string/],
  ];
  assert.doesNotThrow(() => parseSafetensors(good, SOURCE));
  for (const [what, bytes, problem] of cases) {
    assert.throws(
      () => parseSafetensors(bytes, SOURCE),
      (err: Error) => err.message.includes(SOURCE) && problem.test(err.message),
      what,
    );
  }
});

test('file-level errors name the path', { timeout: TIMEOUT }, async (t) => {
  const dir = await temporaryFolder('safetensors-test-', t);
  const missing = join(dir, 'missing.safetensors');
  await assert.rejects(readSafetensors(missing), (err: Error) => err.message.includes(missing));
  const corrupt = join(dir, 'corrupt.safetensors');
  await writeFile(corrupt, rawFile(null, new Uint8Array(0), 'not json at all!'));
  await assert.rejects(
    readSafetensors(corrupt),
    (err: Error) => err.message.includes(corrupt) && /JSON/.test(err.message),
  );
});

test(
  'atomic write leaves only the target, and a failing encode leaves an existing file untouched',
  { timeout: TIMEOUT },
  async (t) => {
    const dir = await temporaryFolder('safetensors-test-', t);
    const path = join(dir, 'ckpt.safetensors');
    const random = rng(5);
    const weights = { w: randomTensor([4, 4], random) };
    await writeSafetensors(path, weights, { step: '1' }, 'BF16');
    assert.deepEqual(await readdir(dir), ['ckpt.safetensors']);
    const before = await readFile(path);
    assert.equal((await readSafetensors(path)).metadata.step, '1');

    // The data does not match the shape: encoding must reject it before touching the disk.
    const broken = { w: { shape: [4, 4], data: new Float32Array(15) } };
    await assert.rejects(
      writeSafetensors(path, broken, { step: '2' }),
      (err: Error) => err.message.includes(path) && /needs 16 values, has 15/.test(err.message),
    );
    assert.deepEqual(await readdir(dir), ['ckpt.safetensors']);
    assert.deepEqual(await readFile(path), before);

    // Overwriting replaces the file whole.
    await writeSafetensors(path, weights, { step: '2' });
    const after = await readSafetensors(path);
    assert.equal(after.metadata.step, '2');
    assert.deepEqual(bitsOf(after.tensors.get('w')!.data), bitsOf(weights.w.data));
    assert.deepEqual(await readdir(dir), ['ckpt.safetensors']);

    // A write into a missing folder fails with the path named and leaves nothing behind.
    const nowhere = join(dir, 'no-such-dir', 'x.safetensors');
    await assert.rejects(writeSafetensors(nowhere, weights), (err: Error) => err.message.includes(nowhere));
    assert.deepEqual(await readdir(dir), ['ckpt.safetensors']);
  },
);
