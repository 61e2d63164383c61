/**
 * PyTorch checkpoints (`pytorch_model.bin`, torch.save's zip format): a pickled state_dict whose
 * tensors refer to storage records beside it in the archive. The pickle goes through the restricted
 * reader (unpickle.ts) with only the globals a state_dict of float tensors names; tensors are then
 * read one at a time from their records' offsets.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { elementCount, type HostTensor } from '../model/host-tensor.js';
import { readStoredValues, STORED_DTYPE_BYTES, type StoredDtype } from './stored-values.js';
import { PickleFunction, unpickle } from './unpickle.js';
import { readZipEntries, type ZipEntry } from './zip-entries.js';

class StorageType {
  constructor(readonly dtype: StoredDtype) {}
}

interface StorageRef {
  key: string;
  dtype: StoredDtype;
  numel: number;
}

interface TensorRef {
  storage: StorageRef;
  /** In elements of the storage. */
  offset: number;
  shape: number[];
  stride: number[];
}

type Fail = (problem: string) => never;

function failing(path: string): Fail {
  return (problem) => {
    throw new Error(`${path}: ${problem}`);
  };
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isCounts = (v: unknown): v is number[] => Array.isArray(v) && v.every(isCount);

function pickleGlobals(fail: Fail): Map<string, unknown> {
  return new Map<string, unknown>([
    [
      'collections OrderedDict',
      new PickleFunction('OrderedDict', (args) => (args.length === 0 ? new Map() : fail('OrderedDict with arguments'))),
    ],
    [
      'torch._utils _rebuild_tensor_v2',
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      new PickleFunction('_rebuild_tensor_v2', ([storage, offset, shape, stride]): TensorRef => {
        if (
          !(storage && typeof storage === 'object' && 'key' in storage) ||
          !isCount(offset) ||
          !isCounts(shape) ||
          !isCounts(stride)
        )
          fail('a tensor in the pickle is not (storage, offset, size, stride)');
        if ((shape as number[]).length !== (stride as number[]).length)
          fail(`a tensor's size [${String(shape)}] and stride [${String(stride)}] differ in length`);
        return {
          storage: storage as StorageRef,
          offset: offset as number,
          shape: shape as number[],
          stride: stride as number[],
        };
      }),
    ],
    ['torch FloatStorage', new StorageType('F32')],
    ['torch HalfStorage', new StorageType('F16')],
    ['torch BFloat16Storage', new StorageType('BF16')],
  ]);
}

/** torch's persistent id for a storage: ('storage', type, key, location, numel). */
function storageRef(pid: unknown, fail: Fail): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || typeof pid[2] !== 'string' || !isCount(pid[4]))
    fail('a persistent id in the pickle is not a torch storage reference');
  const [, type, key, , numel] = pid as [string, unknown, string, unknown, number];
  if (!(type instanceof StorageType)) fail(`storage ${key} has a type other than Float, Half or BFloat16`);
  return { key, dtype: (type as StorageType).dtype, numel };
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** A strided view's values in row-major order, from `base` (the storage from the view's offset on). */
function gather(base: Float32Array, shape: readonly number[], stride: readonly number[]): Float32Array {
  const out = new Float32Array(elementCount(shape));
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let at = 0;
    for (let d = 0; d < shape.length; d++) at += index[d] * stride[d];
    out[i] = base[at];
    for (let d = shape.length - 1; d >= 0 && ++index[d] === shape[d]; d--) index[d] = 0;
  }
  return out;
}

async function readTensor(
  file: FileHandle,
  path: string,
  name: string,
  ref: TensorRef,
  records: Map<string, ZipEntry>,
  prefix: string,
): Promise<HostTensor> {
  const fail = failing(path);
  const { storage, offset, shape, stride } = ref;
  const record = records.get(`${prefix}data/${storage.key}`);
  if (!record) return fail(`tensor ${name}: its storage record data/${storage.key} is missing`);
  const itemBytes = STORED_DTYPE_BYTES[storage.dtype];
  if (record.size < storage.numel * itemBytes)
    fail(
      `tensor ${name}: storage data/${storage.key} holds ${record.size} bytes, fewer than its ${storage.numel} values`,
    );
  const count = elementCount(shape);
  // The furthest element the view reaches: a view may skip through, or past, its storage.
  const extent = count === 0 ? 0 : 1 + shape.reduce((sum, n, d) => sum + (n - 1) * stride[d], 0);
  if (offset + extent > storage.numel)
    fail(`tensor ${name}: [${shape.join(', ')}] at offset ${offset} runs past its ${storage.numel}-value storage`);
  const position = record.offset + offset * itemBytes;
  const contiguous = isContiguous(shape, stride);
  const values = await readStoredValues(file, position, contiguous ? count : extent, storage.dtype, path);
  return { shape: [...shape], data: contiguous ? values : gather(values, shape, stride) };
}

/** The state_dict in a torch.save zip file, every tensor as float32; refuses anything else with a clear error. */
export async function readTorchStateDict(path: string): Promise<Map<string, HostTensor>> {
  const fail = failing(path);
  const file = await open(path, 'r').catch((err: Error) => fail(`cannot open: ${err.message}`));
  try {
    const magic = Buffer.alloc(2);
    await file.read(magic, 0, 2, 0);
    if (magic.toString('latin1') !== 'PK')
      fail(
        'not a zip-format PyTorch checkpoint (torch.save before PyTorch 1.6 wrote another format; re-save it with a newer PyTorch)',
      );
    const records = await readZipEntries(file, (await file.stat()).size, path);
    const pickles = [...records.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
    if (pickles.length !== 1) fail(`expected one <archive>/data.pkl record, found ${pickles.length}`);
    const prefix = pickles[0].slice(0, -'data.pkl'.length);
    const byteorder = records.get(`${prefix}byteorder`);
    if (byteorder) {
      const order = Buffer.alloc(byteorder.size);
      await file.read(order, 0, byteorder.size, byteorder.offset);
      if (order.toString('latin1') !== 'little') fail(`the tensors are stored ${order.toString('latin1')}-endian`);
    }
    const pkl = records.get(pickles[0])!;
    const pickleBytes = Buffer.alloc(pkl.size);
    await file.read(pickleBytes, 0, pkl.size, pkl.offset);
    const root = unpickle(pickleBytes, {
      globals: pickleGlobals(fail),
      persistentLoad: (pid) => storageRef(pid, fail),
      source: `${path} (${pickles[0]})`,
    });
    if (!(root instanceof Map)) fail('the pickle holds no state_dict (its top object is not a dict)');
    const tensors = new Map<string, HostTensor>();
    for (const [name, value] of root as Map<unknown, unknown>) {
      if (typeof name !== 'string') fail(`the state_dict has a key that is not a string (${String(name)})`);
      if (!(value && typeof value === 'object' && 'storage' in value))
        fail(`entry '${String(name)}' is not a tensor: the file is not a flat state_dict of tensors`);
      tensors.set(name as string, await readTensor(file, path, name as string, value as TensorRef, records, prefix));
    }
    return tensors;
  } finally {
    await file.close();
  }
}
