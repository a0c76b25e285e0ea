import { fileURLToPath } from 'node:url';
import path from 'node:path';

import fs from 'node:fs';

/**
 * The package root: the nearest folder up from this file holding our package.json. Compiled files
 * live in dist/lib/base or, bundled, in dist/bundle; schemas and pipeline.yaml stay at the root.
 */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name === 'ephys-make') return dir;
    } catch { /* not here */ }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('internal error: ephys-make package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}
export const packageRoot = findPackageRoot();
export const stagesSourceDir = path.join(packageRoot, 'stages');
export const stagesBuildDir = path.join(packageRoot, 'dist', 'stages');
export const binPath = path.join(packageRoot, 'bin', 'ephys-make.js');
/** Every schema compiled to code at build time (lib/engine/compileSchemas.ts). */
export const compiledSchemasPath = path.join(packageRoot, 'dist', 'schemas.cjs');
/** Every built-in stage's declared version, written at build time by lib/builtin/versions.ts. */
export const builtinVersionsPath = path.join(packageRoot, 'dist', 'builtin-versions.json');
