/**
 * The JSON the HTTP API answers with, as its handlers build it and the web page reads it. Types only,
 * importing nothing but import-free type modules, so the page's TypeScript shares them (web/src/api.ts).
 */
import type { EvalContext, RetrievalMetrics } from '../eval/metrics.js';

export interface ItemJson {
  id: number;
  path: string;
  label: string;
  slide: string | null;
  patient: string | null;
  box: { x: number; y: number; width: number; height: number } | null;
  thumbnail: string;
}

export interface SearchResultJson extends ItemJson {
  rank: number;
  distance: number;
}

/** The most frequent label among the results (ties go to the better-ranked). */
export interface Majority {
  label: string;
  votes: number;
  of: number;
}

export interface SearchAnswerJson {
  query: { kind: 'upload'; name: string; width: number; height: number; format: string } | { kind: 'item'; item: ItemJson };
  k: number;
  /** Rows left out (the query item, a slide's items). */
  excluded: number;
  results: SearchResultJson[];
  majority: Majority | null;
}

export interface IndexInfoJson {
  /** Live items. */
  items: number;
  /** Rows ever stored, removed ones included. */
  rows: number;
  /** Advances on every append and removal; the answers come from this generation. */
  generation: number;
  /** How queries are answered: every item compared ('exact') or graph candidates re-ranked ('two-stage'); the stored precision. */
  search: { mode: 'exact' | 'two-stage'; vectors: 'f32' | 'f16' | 'i8' };
  labels: { label: string; count: number }[];
  slides: { slide: string; count: number }[];
  model: { id: string; hash: string; dim: number; input_size: number };
  /** What this server can show besides search. */
  features: { report: boolean; slides: boolean; map: boolean };
}

/** An evaluation report's metrics.json, as /api/report serves it. */
export type ReportJson = { context: EvalContext } & RetrievalMetrics;

export interface DeepZoomInfo {
  id: string;
  width: number;
  height: number;
  mpp: { x: number; y: number } | null;
  tileSize: number;
  overlap: number;
  format: 'jpeg';
  /** The coarsest level served (coarser ones would read too much of a slide without a pyramid). */
  minLevel: number;
  maxLevel: number;
  /** Tiles are at `${tiles}${level}/${col}_${row}.jpeg`. */
  tiles: string;
}
