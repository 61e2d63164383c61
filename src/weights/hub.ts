/**
 * Pretrained weights for real users, from the Hugging Face hub into a local cache: timm ConvNeXt
 * V2 (or V1) backbones for LGFFEM, and the pathology foundation models (foundation-models.ts).
 * Gated repositories take HF_TOKEN; downloads resume, are checked against the hub's SHA-256, and
 * land whole or not at all (download.ts). Nothing in histoseek downloads at run time otherwise.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCacheRecord, weightsCacheDir, writeCacheRecord, type CachedWeights, type Licence } from './cache.js';
import { checkCheckpointFormat } from './checkpoint-file.js';
import { downloadFile, HttpStatusError } from './download.js';
import { foundationModel, isFoundationModelName } from './foundation-models.js';
import { safetensorsTensorNames } from './safetensors-file.js';

export { listWeights, weightsCacheDir, type CachedWeights, type Licence } from './cache.js';

export const HUB_ENDPOINT = 'https://huggingface.co';
const TOKENS_PAGE = 'https://huggingface.co/settings/tokens';

export interface PullOptions {
  cacheDir?: string;
  /** The hub's base URL (HF_ENDPOINT by default: a mirror, or a test server). */
  endpoint?: string;
  /** A hub access token for gated repositories; HF_TOKEN by default. */
  token?: string;
  /** Expected SHA-256; otherwise the hub's LFS ETag is used when it is one. */
  sha256?: string;
  /** Download again even when a complete copy is cached. */
  force?: boolean;
  onProgress?: (done: number, total: number | null) => void;
}

/** Where a pullable name lives on the hub and what its file must look like. */
interface HubSource {
  /** The cache folder's name. */
  name: string;
  repo: string;
  /** Tried in order: the next on a 404. */
  files: readonly string[];
  licence: Licence;
  /** Whether the repository is known to be gated (it changes only the wording of a 401). */
  gated: boolean;
  /** Refuses a complete download that is not what the name promises. */
  check: (path: string) => Promise<void>;
  /** Said when no file is found. */
  notFound: string;
}

/** A timm ConvNeXt name as on the hub: `convnextv2_atto.fcmae_ft_in1k`, optionally with its `timm/` prefix. */
function timmSource(name: string): HubSource {
  const bare = name.replace(/^timm\//, '');
  if (!/^convnext(v2)?_[a-z]+(\.[\w-]+)?$/.test(bare))
    throw new Error(
      `'${name}' is neither a foundation model histoseek knows (see 'histoseek weights') nor a timm ConvNeXt (V1/V2) model name, e.g. convnextv2_atto.fcmae_ft_in1k`,
    );
  const repo = `timm/${bare}`;
  return {
    name: bare,
    repo,
    files: ['model.safetensors'],
    // timm's model cards: ConvNeXt V2's FCMAE weights are non-commercial, V1's are Apache-2.0.
    licence: {
      name: bare.startsWith('convnextv2') ? 'CC-BY-NC-4.0' : 'Apache-2.0',
      url: `https://huggingface.co/${repo}`,
    },
    gated: false,
    check: async (path) => {
      if (!(await safetensorsTensorNames(path)).includes('stem.0.weight'))
        throw new Error(`${path}: not a ConvNeXt checkpoint (no stem.0.weight)`);
    },
    notFound: 'check the model name (e.g. convnextv2_atto.fcmae_ft_in1k)',
  };
}

function foundationSource(name: string): HubSource {
  const model = foundationModel(name);
  return {
    name,
    repo: model.repo,
    files: model.files,
    licence: model.licence,
    gated: model.gated,
    check: checkCheckpointFormat,
    notFound: `the repository holds none of ${model.files.join(', ')}`,
  };
}

/** A 401/403 explained: which variable to set, and where to accept the licence. */
function deniedMessage(
  source: HubSource,
  status: number,
  token: string | undefined,
  hubMessage: string | null,
): string {
  const what = `${source.repo}: access denied (HTTP ${status}${hubMessage ? `: ${hubMessage}` : ''})`;
  const accept = `accept its licence (${source.licence.name}) at ${source.licence.url}`;
  if (token)
    return `${what} with the token in HF_TOKEN: ${accept} with the account that token belongs to, and check that the token can read gated repositories`;
  // The hub also answers 401 for a repository that does not exist, so a name that is not known to be gated may be a typo.
  const why = source.gated ? 'the repository is gated' : 'the repository does not exist, or needs a token';
  return `${what}: ${why}. Sign in to the hub, ${accept}, then set HF_TOKEN to an access token (${TOKENS_PAGE}) and run the command again`;
}

/** The licence and terms page of a pullable name, to show before downloading. */
export function licenceOf(name: string): Licence {
  return (isFoundationModelName(name) ? foundationSource(name) : timmSource(name)).licence;
}

/**
 * Downloads a foundation model (`uni`, `virchow2`…, see foundation-models.ts) or a timm ConvNeXt
 * checkpoint into the cache, unless a complete copy is there; returns the cache record.
 */
export async function pullWeights(name: string, o: PullOptions = {}): Promise<CachedWeights> {
  const source = isFoundationModelName(name) ? foundationSource(name) : timmSource(name);
  const dir = join(o.cacheDir ?? weightsCacheDir(), source.name);
  const cached = o.force ? null : await readCacheRecord(dir);
  if (cached && (!o.sha256 || cached.sha256 === o.sha256.toLowerCase())) return cached;
  const endpoint = (o.endpoint ?? process.env.HF_ENDPOINT ?? HUB_ENDPOINT).replace(/\/$/, '');
  const token = o.token ?? (process.env.HF_TOKEN || undefined);
  for (const [i, file] of source.files.entries()) {
    const url = `${endpoint}/${source.repo}/resolve/main/${file}`;
    let got;
    try {
      got = await downloadFile({
        url,
        target: join(dir, file),
        token,
        sha256: o.sha256,
        onProgress: o.onProgress,
        denied: (status, hubMessage) => deniedMessage(source, status, token, hubMessage),
        check: source.check,
      });
    } catch (err) {
      if (!(err instanceof HttpStatusError) || err.status !== 404) throw err;
      if (i + 1 < source.files.length) continue;
      throw new Error(`${url}: not found — ${source.notFound}`, { cause: err });
    }
    const record: CachedWeights = {
      name: source.name,
      path: join(dir, file),
      file,
      bytes: got.bytes,
      sha256: got.sha256,
      checked: got.checked,
      url,
      pulledAt: new Date().toISOString(),
      repo: source.repo,
      licence: source.licence,
    };
    await writeCacheRecord(dir, record);
    return record;
  }
  throw new Error(`${source.repo}: no file to pull`);
}

/** A --backbone value: a file, or the name of cached ConvNeXt weights. */
export function resolveBackbone(value: string, cacheDir = weightsCacheDir()): string {
  if (existsSync(value)) return value;
  const cached = join(cacheDir, value.replace(/^timm\//, ''), 'model.safetensors');
  if (existsSync(cached)) return cached;
  throw new Error(
    `--backbone ${value}: no such file, and no cached weights of that name (see 'histoseek weights list')`,
  );
}
