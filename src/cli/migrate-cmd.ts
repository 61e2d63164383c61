/** `histoseek migrate`: copy a folder index into a PostgreSQL store (or another folder). */
import { migrateIndex } from '../store/migrate.js';
import { openOrCreateStore } from '../store/open-store.js';
import { FolderIndex } from '../store/folder/folder-index.js';
import { defineCommand } from './command.js';
import { parseVectorKind } from './store-options.js';
import { Progress } from '../util/progress.js';

const USAGE = `histoseek migrate --from DIR --to DB [--vectors K]

Copies every live item of the folder index DIR — metadata, stored descriptor, norm — into the store
DB (postgres://USER@HOST:PORT/DB[?schema=NAME], or another folder), created for the same model if it
does not exist. Items DB already holds are skipped: rerunning an interrupted copy finishes it.
The folder index is only read.

  --from DIR           the folder index to copy
  --to DB              the store to copy into
  --vectors K          stored precision of a new DB: f16 (default) or f32 (PostgreSQL: halfvec or vector)
`;

export const migrateCommand = defineCommand({
  usage: USAGE,
  options: { from: { type: 'string' }, to: { type: 'string' }, vectors: { type: 'string' } },
  async run({ values }) {
    if (!values.from || !values.to) throw new Error(`--from and --to are required\n\n${USAGE}`);
    const vectors = parseVectorKind(values.vectors);
    const from = FolderIndex.open(values.from);
    try {
      const to = await openOrCreateStore(values.to, from.model, { vectors });
      try {
        const progress = new Progress('copying', from.rows, 'rows');
        const report = await migrateIndex(from, to, (done) => progress.reach(done));
        progress.finish();
        process.stderr.write(
          `${to.location}: ${report.copied} items copied, ${report.skipped} already there; ${await to.liveCount()} items in the store\n`,
        );
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } finally {
        await to.close();
      }
    } finally {
      from.close();
    }
    return 0;
  },
});
