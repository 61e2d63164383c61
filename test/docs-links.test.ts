/**
 * The README is the front door and docs/ the rest of the house: every relative link in README.md,
 * docs/**.md and the run logs in bench/results/ must reach a file, and an anchor into a Markdown file
 * one of its headings (as GitHub names them). External links are not fetched. docs/api/ is TypeDoc's
 * HTML (test/api-reference.test.ts checks it) and holds no Markdown. The README stays within its
 * budget with its two promised commands, and its architecture picture says what lint enforces.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.js';

/** Limit of each test here, ms (node:test `timeout`). */
const TIMEOUT = 30_000;

/** The README's budget: a front door, with the rest in docs/. */
const README_MAX_BYTES = 12 * 1024;

function markdownFiles(): string[] {
  const under = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.md'))
      .map((e) => relative(ROOT, join(e.parentPath, e.name)));
  return ['README.md', ...under('docs'), ...under('bench/results')].sort();
}

/** The text outside fenced code blocks and inline code spans, line for line. */
function prose(markdown: string): string[] {
  let fence: string | null = null;
  return markdown.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = null;
      return '';
    }
    if (marker) {
      fence = marker;
      return '';
    }
    return line.replace(/(`+)[^`]*?\1/g, '');
  });
}

/** GitHub's anchor for a heading: its text lower-cased, punctuation and symbols dropped, spaces as hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/`/g, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors a Markdown file offers: its headings' slugs (repeats numbered as GitHub does) and HTML ids. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const base = slug(heading);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

interface Link {
  line: number;
  target: string;
}

function linksOf(markdown: string): Link[] {
  const links: Link[] = [];
  const lines = prose(markdown);
  lines.forEach((text, i) => {
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      links.push({ line: i + 1, target: m[1]! });
    // A reference definition starts a paragraph: within one, `[x]: y` is plain text.
    const startsParagraph = i === 0 || lines[i - 1]!.trim() === '';
    const reference = startsParagraph && /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(text);
    if (reference) links.push({ line: i + 1, target: reference[1]! });
  });
  return links;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

/** What is wrong with one link of `file`, or null when it resolves. */
function brokenReason(file: string, target: string, anchorCache: Map<string, Set<string>>): string | null {
  const hash = target.indexOf('#');
  const path = decodeURI(hash < 0 ? target : target.slice(0, hash));
  const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
  const resolved = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
  if (!resolved.startsWith(ROOT)) return 'points outside the repository';
  if (!existsSync(resolved)) return `no such file: ${relative(ROOT, resolved)}`;
  if (anchor === null || !resolved.endsWith('.md') || statSync(resolved).isDirectory()) return null;
  let anchors = anchorCache.get(resolved);
  if (!anchors) {
    anchors = anchorsOf(readFileSync(resolved, 'utf8'));
    anchorCache.set(resolved, anchors);
  }
  return anchors.has(anchor) ? null : `no heading #${anchor} in ${relative(ROOT, resolved)}`;
}

test(
  'every relative link in README.md, docs/ and bench/results/ reaches its file and heading',
  { timeout: TIMEOUT },
  () => {
    const files = markdownFiles();
    assert.ok(files.includes('docs/model.md'), files.join(', '));
    const anchorCache = new Map<string, Set<string>>();
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      for (const { line, target } of linksOf(readFileSync(join(ROOT, file), 'utf8'))) {
        if (isExternal(target)) continue;
        checked++;
        const reason = brokenReason(file, target, anchorCache);
        if (reason) broken.push(`${file}:${line}: (${target}) ${reason}`);
      }
    }
    assert.ok(checked > 50, `only ${checked} links found: is the link pattern still right?`);
    assert.deepEqual(broken, []);
  },
);

test(
  'README.md stays a front door: at most 12 KiB, with the one set-up-and-demo and one test command',
  { timeout: TIMEOUT },
  () => {
    const readme = readFileSync(join(ROOT, 'README.md'));
    assert.ok(readme.length <= README_MAX_BYTES, `README.md is ${readme.length} bytes, over ${README_MAX_BYTES}`);
    const text = readme.toString('utf8');
    assert.match(text, /^ONNXRUNTIME_NODE_INSTALL=skip npm ci && npx histoseek demo\b/m);
    assert.match(text, /^npm test\b/m);
  },
);

test("the anchors are GitHub's", { timeout: TIMEOUT }, () => {
  assert.equal(slug('Loss: Sub-center ArcFace'), 'loss-sub-center-arcface');
  assert.equal(slug('Grad-CAM++ explanations'), 'grad-cam-explanations');
  assert.equal(slug('Retrieval on real H&E'), 'retrieval-on-real-he');
  assert.equal(slug('Precision: fp32 or int8'), 'precision-fp32-or-int8');
  assert.equal(slug('`index`'), 'index');
  assert.deepEqual([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n### A')], ['a', 'a-1', 'a-2']);
});

/** eslint.config.js's LAYERS, bottom first: the layering lint enforces. */
function lintLayers(): string[][] {
  const config = readFileSync(join(ROOT, 'eslint.config.js'), 'utf8');
  const literal = /^const LAYERS = (\[[\s\S]*?^\]);/m.exec(config)?.[1];
  assert.ok(literal, 'eslint.config.js declares const LAYERS = [...]');
  return JSON.parse(literal.replace(/'/g, '"').replace(/,(\s*\])/g, '$1')) as string[][];
}

test("the README's and docs/architecture.md's layers are eslint.config.js's", { timeout: TIMEOUT }, () => {
  const layers = lintLayers();
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const picture = /^### Architecture\n+```\n([\s\S]*?)\n```/m.exec(readme)?.[1];
  assert.ok(picture, "README.md's Architecture section opens with its picture");
  const drawn = picture
    .split('\n')
    .map((line) => [...line.matchAll(/\bsrc\/([a-z-]+)\//g)].map((m) => m[1]!))
    .reverse();
  assert.deepEqual(drawn, layers, "README.md's picture, read bottom up");

  const table = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const byLayer = new Map<number, string[]>();
  for (const m of table.matchAll(/^\| (\d+)\s+\| `src\/([a-z-]+)\/`/gm)) {
    byLayer.set(Number(m[1]), [...(byLayer.get(Number(m[1])) ?? []), m[2]!]);
  }
  const listed = [...byLayer.keys()].sort((a, b) => a - b).map((n) => byLayer.get(n)!);
  assert.deepEqual(listed, layers, "docs/architecture.md's table, by layer number");
});
