/**
 * lib/ is built in floors and imports go down only (lib/README.md). This reads every source
 * file's relative imports and checks them against the floors, and that no modules import each
 * other in a circle: the drawing in lib/README.md stays true because this test fails otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot } from './rig.js';

/** Which floors each floor may import (its own included). */
const mayImport: Record<string, string[]> = {
  base: ['base'],
  numeric: ['numeric', 'base'],
  formats: ['formats', 'numeric', 'base'],
  builtin: ['builtin', 'formats', 'numeric', 'base'],
  synth: ['synth', 'formats', 'numeric', 'base'],
  engine: ['engine', 'formats', 'numeric', 'base'],
  report: ['report', 'engine', 'formats', 'numeric', 'base'],
  commands: ['commands', 'report', 'engine', 'builtin', 'synth', 'formats', 'numeric', 'base'],
  cli: ['commands', 'base'],
  stage: ['stage', 'builtin', 'formats', 'numeric', 'base'],
};

function floorOf(rel: string): string {
  if (rel === 'lib/cli.ts') return 'cli';
  const [top, second] = rel.split('/');
  if (top === 'stages') return 'stage';
  if (top === 'lib' && second && second in mayImport) return second;
  throw new Error(`${rel}: not in a floor of lib/README.md`);
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Relative imports (static, dynamic and `export ... from`), resolved to repo-relative .ts paths. */
function importsOf(rel: string): string[] {
  const text = fs.readFileSync(path.join(repoRoot, rel), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), m[1]));
    if (target.endsWith('.js')) out.push(target.replace(/\.js$/, '.ts'));
  }
  return out;
}

const files = [...sources('lib'), ...sources('stages')];
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every lib/ file sits in a floor', () => {
  const lost = files.filter((f) => { try { floorOf(f); return false; } catch { return true; } });
  assert.equal(lost, []);
});

test('imports go down only', () => {
  const wrong: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      if (!to.startsWith('lib/') && !to.startsWith('stages/')) continue;
      const a = floorOf(from), b = floorOf(to);
      if (!mayImport[a].includes(b)) wrong.push(`${from} (${a}) imports ${to} (${b})`);
      // A stage is self-contained: one stage never reaches into another's folder.
      if (a === 'stage' && b === 'stage' && from.split('/')[1] !== to.split('/')[1] && !to.endsWith('.schema.json')) wrong.push(`${from} imports another stage's ${to}`);
    }
  }
  assert.equal(wrong, []);
});

test('no modules import each other in a circle', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (!graph.has(t)) continue;
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.equal(cycles, []);
});

test('every import resolves to a file that exists', () => {
  const missing: string[] = [];
  for (const [from, targets] of graph) for (const t of targets) if (!fs.existsSync(path.join(repoRoot, t))) missing.push(`${from} -> ${t}`);
  assert.equal(missing, []);
});

test.run();
