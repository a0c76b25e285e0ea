/**
 * A built-in's version is part of its stage definition: bumping it reruns the stage's jobs. The
 * build writes every built-in's declared version to one file (lib/builtin/versions.ts).
 */
import fs from 'node:fs';
import { builtinVersionsPath } from '../../base/paths.js';

let versions: Record<string, string> | undefined;

/** The declared version, or 'missing' when no built-in has that name (the runner reports it). */
export function builtinVersion(module: string): string {
  if (!versions) {
    try { versions = JSON.parse(fs.readFileSync(builtinVersionsPath, 'utf8')) as Record<string, string>; }
    catch { versions = {}; }
  }
  return versions[module] ?? 'missing';
}
