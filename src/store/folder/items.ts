/**
 * A folder index's items in its database (schema.ts): reading them back, appending them, removing
 * them, and the images that could not be read. Indexes of formats 1 and 2 (read, not written: they
 * are upgraded first) keep every item's source in their `items` table; format 3 keeps a slide
 * patch's key as its slide's path and its box (patch-key.ts), and the source is spelled again
 * through the item-key codec.
 */
import type Database from 'better-sqlite3';
import { formatItemKey } from '../../collections/item-key.js';
import { HistoseekError } from '../../util/errors.js';
import { patchKey } from '../patch-key.js';
import type { ItemRecord, StoredItem } from '../types.js';

/**
 * Items as every query reads them, whatever the format: the key's path, whether a patch's box
 * completes it (region_in_source), the metadata. Format 3 from its tables; formats 1 and 2 from
 * their `items` table, which holds each source whole.
 */
const FORMAT_3_ITEMS = `(SELECT p.row AS row, s.path AS path, p.region_in_source AS region_in_source, l.name AS label,
  s.slide AS slide, s.patient AS patient, p.x AS x, p.y AS y, p.width AS width, p.height AS height,
  s.collection AS collection, p.removed AS removed
  FROM patches p JOIN sources s ON s.id = p.source_id JOIN labels l ON l.id = p.label_id)`;
const EARLIER_ITEMS = `(SELECT row, source AS path, 0 AS region_in_source, label, slide, patient, x, y, width, height,
  collection, removed FROM items)`;
const ITEM_COLUMNS = 'row, path, region_in_source, label, slide, patient, x, y, width, height, collection';

interface ItemRow {
  row: number;
  path: string;
  region_in_source: number;
  label: string;
  slide: string | null;
  patient: string | null;
  x: number | null;
  y: number | null;
  width: number | null;
  height: number | null;
  collection: string | null;
}

/** The stored item a row of ITEM_COLUMNS holds, its source spelled by the item-key codec. */
function storedItem(r: ItemRow): StoredItem {
  return {
    row: r.row,
    source: sourceOf(r),
    label: r.label,
    slide: r.slide,
    patient: r.patient,
    x: r.x,
    y: r.y,
    width: r.width,
    height: r.height,
    collection: r.collection,
  };
}

function sourceOf(r: Pick<ItemRow, 'path' | 'region_in_source' | 'x' | 'y' | 'width' | 'height'>): string {
  return r.region_in_source
    ? formatItemKey({ kind: 'region', path: r.path, box: { x: r.x!, y: r.y!, width: r.width!, height: r.height! } })
    : r.path;
}

/** Writes items into format 3's tables (a writer's connection, inside its transaction). */
export class ItemWriter {
  private readonly findSource: Database.Statement;
  private readonly addSource: Database.Statement;
  private readonly findLabel: Database.Statement;
  private readonly addLabel: Database.Statement;
  private readonly dropTombstone: Database.Statement;
  private readonly insert: Database.Statement;

  /** @internal (better-sqlite3's types are a dev dependency: none in the published declarations) */
  constructor(db: Database.Database) {
    this.findSource = db
      .prepare('SELECT id FROM sources WHERE path = ? AND slide IS ? AND patient IS ? AND collection IS ?')
      .pluck();
    this.addSource = db.prepare('INSERT INTO sources (path, slide, patient, collection) VALUES (?, ?, ?, ?)');
    this.findLabel = db.prepare('SELECT id FROM labels WHERE name = ?').pluck();
    this.addLabel = db.prepare('INSERT INTO labels (name) VALUES (?)');
    this.dropTombstone = db.prepare(
      'DELETE FROM patches WHERE removed = 1 AND source_id IN (SELECT id FROM sources WHERE path = @path) AND region_in_source = @regionInSource AND x IS @x AND y IS @y AND width IS @width AND height IS @height',
    );
    this.insert = db.prepare(
      'INSERT INTO patches (row, source_id, label_id, x, y, width, height, region_in_source, removed, norm) VALUES (@row, @sourceId, @labelId, @x, @y, @width, @height, @regionInSource, @removed, @norm)',
    );
  }

  /** Records `item` at `row`; a removed record of the same source goes first (its row stays in removed_rows). */
  write(row: number, item: ItemRecord, norm: number | null, removed = false): void {
    const patch = patchKey(item);
    const path = patch ? patch.path : item.source;
    const regionInSource = patch ? 1 : 0;
    const box = { x: item.x ?? null, y: item.y ?? null, width: item.width ?? null, height: item.height ?? null };
    if (!removed) this.dropTombstone.run({ path, regionInSource, ...box });
    const sourceId = this.sourceId(path, item.slide ?? null, item.patient ?? null, item.collection ?? null);
    this.insert.run({
      row,
      sourceId,
      labelId: this.labelId(item.label),
      ...box,
      regionInSource,
      removed: removed ? 1 : 0,
      norm,
    });
  }

  private sourceId(path: string, slide: string | null, patient: string | null, collection: string | null): number {
    const found = this.findSource.get(path, slide, patient, collection) as number | undefined;
    return found ?? Number(this.addSource.run(path, slide, patient, collection).lastInsertRowid);
  }

  private labelId(label: string): number {
    const found = this.findLabel.get(label) as number | undefined;
    return found ?? Number(this.addLabel.run(label).lastInsertRowid);
  }
}

/**
 * The items of one connection. Reads that take `limit` see only rows below it: the rows committed
 * when the store was opened, so a reader keeps its snapshot while a writer appends.
 */
export class ItemTables {
  private writer: ItemWriter | null = null;
  private readonly relation: string;

  /** @internal (better-sqlite3's types are a dev dependency: none in the published declarations) */
  constructor(
    private readonly db: Database.Database,
    /** A statement prepared once per connection (the server reads items on every request). */
    private readonly statement: (sql: string) => Database.Statement,
    readonly formatVersion: 1 | 2 | 3,
    /** The index folder, for messages. */
    private readonly dir: string,
  ) {
    this.relation = formatVersion === 3 ? FORMAT_3_ITEMS : EARLIER_ITEMS;
  }

  /** Sources already stored (and not removed), to skip on a rerun. */
  storedSources(): Set<string> {
    const rows = this.db
      .prepare(`SELECT path, region_in_source, x, y, width, height FROM ${this.relation} WHERE removed = 0`)
      .all() as ItemRow[];
    return new Set(rows.map(sourceOf));
  }

  /** Records a batch of items from row `start` on, each with its norm ‖f_e‖, and forgets their earlier failures (inside the caller's transaction). */
  append(start: number, items: ItemRecord[], norms: Float32Array): void {
    this.writer ??= new ItemWriter(this.db);
    const writer = this.writer;
    const clearFailure = this.statement('DELETE FROM failures WHERE source = ?');
    items.forEach((item, i) => {
      clearFailure.run(item.source);
      writer.write(start + i, item, norms[i]);
    });
  }

  recordFailure(source: string, reason: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO failures (source, reason, at) VALUES (?, ?, ?)')
      .run(source, reason, new Date().toISOString());
  }

  failures(): { source: string; reason: string }[] {
    return this.db.prepare('SELECT source, reason FROM failures ORDER BY source').all() as {
      source: string;
      reason: string;
    }[];
  }

  /**
   * Marks the live items of a slide, or of the files under a folder, as removed, in one transaction
   * that also runs `changed` when there were any; returns their rows.
   */
  remove(filter: { slide?: string; under?: string }, changed: () => void): number[] {
    let sources: string;
    let params: string[];
    if (filter.slide !== undefined) {
      sources = 'slide = ?';
      params = [filter.slide];
    } else if (filter.under !== undefined) {
      // The folder itself names a file (a slide, say) or the folder its files are under.
      const prefix = filter.under.endsWith('/') ? filter.under : `${filter.under}/`;
      sources = 'path = ? OR substr(path, 1, length(?)) = ?';
      params = [filter.under, prefix, prefix];
    } else throw new Error('remove: give a slide or a folder');
    const where = `removed = 0 AND source_id IN (SELECT id FROM sources WHERE ${sources})`;
    const rows = this.db
      .prepare(`SELECT row FROM patches WHERE ${where}`)
      .pluck()
      .all(...params) as number[];
    const markRemoved = this.statement('INSERT OR IGNORE INTO removed_rows (row) VALUES (?)');
    this.db.transaction(() => {
      this.db.prepare(`UPDATE patches SET removed = 1 WHERE ${where}`).run(...params);
      for (const row of rows) markRemoved.run(row);
      if (rows.length) changed();
    })();
    return rows;
  }

  /** Each row's ‖f_e‖. */
  norms(rows: number[]): Float32Array {
    const norm = this.statement(`SELECT norm FROM ${this.formatVersion === 3 ? 'patches' : 'items'} WHERE row = ?`);
    return Float32Array.from(rows, (row) => {
      const n = (norm.get(row) as { norm: number | null } | undefined)?.norm;
      if (n == null) throw new HistoseekError('INDEX_DAMAGED', `${this.dir}: row ${row} has no recorded norm`);
      return n;
    });
  }

  /**
   * 1 for rows below `limit` holding a live item, 0 for removed rows: read from the (short) list of
   * removed rows, not the items, so it costs little at ten million items.
   */
  activeRows(limit: number): Uint8Array {
    if (this.formatVersion === 1) {
      const active = new Uint8Array(limit);
      const live = this.statement(`SELECT row FROM ${this.relation} WHERE removed = 0`).pluck();
      for (const row of live.iterate() as Iterable<number>) if (row < active.length) active[row] = 1;
      return active;
    }
    const active = new Uint8Array(limit).fill(1);
    for (const row of this.removedRows()) if (row < active.length) active[row] = 0;
    return active;
  }

  /** Every removed row (formats 2 and 3). */
  removedRows(): number[] {
    return this.statement('SELECT row FROM removed_rows').pluck().all() as number[];
  }

  /** Live items per slide (items without a slide left out). */
  slideCounts(limit: number): Map<string, number> {
    const rows = this.statement(
      `SELECT slide, count(*) AS n FROM ${this.relation} WHERE removed = 0 AND slide IS NOT NULL AND row < ? GROUP BY slide`,
    ).all(limit) as { slide: string; n: number }[];
    return new Map(rows.map((r) => [r.slide, r.n]));
  }

  /** The rows of one slide's live items. */
  slideRows(slide: string, limit: number): number[] {
    return this.statement(`SELECT row FROM ${this.relation} WHERE slide = ? AND removed = 0 AND row < ?`)
      .pluck()
      .all(slide, limit) as number[];
  }

  /** The items of `rows`, removed ones included. */
  items(rows: number[]): StoredItem[] {
    const get = this.statement(`SELECT ${ITEM_COLUMNS} FROM ${this.relation} WHERE row = ?`);
    return rows.map((row) => {
      const found = get.get(row) as ItemRow | undefined;
      return (found && storedItem(found)) as StoredItem;
    });
  }

  /** The live items of `rows`, in order: undefined for a row at or past `limit`, or removed. */
  liveItems(rows: number[], limit: number): (StoredItem | undefined)[] {
    const get = this.statement(
      `SELECT ${ITEM_COLUMNS} FROM ${this.relation} WHERE row = ? AND removed = 0 AND row < ?`,
    );
    return rows.map((row) => {
      const found = get.get(row, limit) as ItemRow | undefined;
      return found && storedItem(found);
    });
  }

  /** Every live item below `limit`, by row. */
  allItems(limit: number): StoredItem[] {
    const rows = this.db
      .prepare(`SELECT ${ITEM_COLUMNS} FROM ${this.relation} WHERE removed = 0 AND row < ? ORDER BY row`)
      .all(limit) as ItemRow[];
    return rows.map(storedItem);
  }

  /** Live items per label. */
  labelCounts(limit: number): Map<string, number> {
    const rows = this.db
      .prepare(`SELECT label, count(*) AS n FROM ${this.relation} WHERE removed = 0 AND row < ? GROUP BY label`)
      .all(limit) as { label: string; n: number }[];
    return new Map(rows.map((r) => [r.label, r.n]));
  }
}
