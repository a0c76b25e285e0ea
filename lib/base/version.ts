import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from './paths.js';

let cached: Record<string, string> | undefined;

/** Versions written to runs.jsonl with every run: the provenance a paper's methods section needs. */
export function versions(): Record<string, string> {
  if (cached) return cached;
  let own = 'unknown';
  try { own = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version; } catch { /* keep unknown */ }
  cached = { 'ephys-make': own, node: process.versions.node };
  return cached;
}
