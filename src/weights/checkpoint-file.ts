/**
 * A checkpoint file in either format the hub's pathology models ship: safetensors, or PyTorch's
 * torch.save zip (`pytorch_model.bin`). The format is told by the file's first bytes, not its name.
 */
import { open } from 'node:fs/promises';
import type { HostTensor } from '../model/host-tensor.js';
import { readSafetensorsFile, safetensorsTensorNames } from './safetensors-file.js';
import { readTorchStateDict } from './torch-checkpoint.js';
import { readZipEntries } from './zip-entries.js';

async function isZip(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const magic = Buffer.alloc(4);
    await file.read(magic, 0, 4, 0);
    return magic.readUInt32LE(0) === 0x04034b50;
  } finally {
    await file.close();
  }
}

/** Every tensor in the checkpoint, as float32, in the checkpoint's own names. */
export async function readCheckpointTensors(path: string): Promise<Map<string, HostTensor>> {
  return (await isZip(path)) ? readTorchStateDict(path) : readSafetensorsFile(path);
}

/**
 * Checks, from headers alone, that a downloaded file is a checkpoint at all (not, say, an HTML
 * error page with a 200): a safetensors header that parses, or a torch zip with its pickle.
 */
export async function checkCheckpointFormat(path: string): Promise<void> {
  if (!(await isZip(path))) {
    await safetensorsTensorNames(path);
    return;
  }
  const file = await open(path, 'r');
  try {
    const entries = await readZipEntries(file, (await file.stat()).size, path);
    if (![...entries.keys()].some((name) => /^[^/]+\/data\.pkl$/.test(name)))
      throw new Error(`${path}: a zip archive, but not a PyTorch checkpoint (no <archive>/data.pkl)`);
  } finally {
    await file.close();
  }
}
