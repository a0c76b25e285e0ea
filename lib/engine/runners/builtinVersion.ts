/**
 * A built-in's version is part of its stage definition. Read from a `version` line of its source
 * folder's compiled module without importing it, so planning stays cheap.
 */
import fs from 'node:fs';
import path from 'node:path';
import { stagesBuildDir } from '../../base/paths.js';

const cache = new Map<string, string>();

export function builtinVersion(module: string): string {
  let v = cache.get(module);
  if (v !== undefined) return v;
  v = 'missing';
  try {
    const text = fs.readFileSync(path.join(stagesBuildDir, module, 'index.js'), 'utf8');
    v = /\bversion\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1] ?? 'unknown';
  } catch { /* no built-in by that name: the runner reports it */ }
  cache.set(module, v);
  return v;
}
