/**
 * A library index follows its index's generation: a write by another process is read by the next
 * call, with a note to the logger; a reopen that fails (here: the index now records another
 * model) is a warning, and reads go on from the reader there is until a reopen succeeds — what
 * keeps a server answering.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { writeKimiaCollection } from '../src/data/synthetic/index.js';
import { openIndex } from '../src/index.js';
import { temporaryFolder } from './helpers.js';

const TIMEOUT = 5 * 60_000;

test(
  'a failed reopen is a warning and reads go on from the old reader; the next good one is read',
  { timeout: TIMEOUT },
  async () => {
    const dir = await temporaryFolder('histoseek-reopen-');
    const collection = join(dir, 'collection');
    await writeKimiaCollection(collection, {
      seed: 3,
      slides: 2,
      slideSize: 512,
      patchSize: 96,
      trainPerSlide: 4,
      testPerSlide: 1,
    });
    const db = join(dir, 'db');
    {
      await using created = await openIndex(db, { create: true });
      await created.add(collection, { layout: 'kimia' });
    }
    const notes: string[] = [];
    const warnings: string[] = [];
    await using index = await openIndex(db, {
      logger: { info: (m) => notes.push(m), warn: (m) => warnings.push(m) },
    });
    const first = await index.info();
    const query = (await index.vector(0))!;
    const before = await index.search(query, { k: 3 });

    // What another process's write looks like to this one: the stored model and the generation change.
    const sqlite = new Database(join(db, 'histoseek.sqlite'));
    const meta = (key: string, value: string) =>
      sqlite.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
    const hash = (sqlite.prepare("SELECT value FROM meta WHERE key = 'model_hash'").get() as { value: string }).value;
    try {
      meta('model_hash', 'another-model');
      meta('generation', String(first.generation + 1));
      const during = await index.search(query, { k: 3 });
      assert.deepEqual(
        during.map((r) => r.id),
        before.map((r) => r.id),
        'answered from the reader it had',
      );
      assert.equal((await index.info()).generation, first.generation);
      assert.ok(warnings.length >= 1, 'a warning');
      assert.match(warnings[0], new RegExp(`cannot reopen \\(.*\\); reading generation ${first.generation}$`));
      assert.deepEqual(notes, []);

      meta('model_hash', hash);
      meta('generation', String(first.generation + 2));
    } finally {
      sqlite.close();
    }
    const after = await index.info();
    assert.equal(after.generation, first.generation + 2);
    assert.equal(after.items, first.items);
    assert.deepEqual(notes, [`index ${after.location}: reopened at generation ${first.generation + 2}`]);
  },
);
