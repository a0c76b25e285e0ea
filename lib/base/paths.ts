import { fileURLToPath } from 'node:url';
import path from 'node:path';

// Compiled files live in dist/lib/base; schemas and pipeline.yaml stay at the package root.
const here = path.dirname(fileURLToPath(import.meta.url));
export const packageRoot = path.resolve(here, '..', '..', '..');
export const stagesSourceDir = path.join(packageRoot, 'stages');
export const stagesBuildDir = path.join(packageRoot, 'dist', 'stages');
export const binPath = path.join(packageRoot, 'bin', 'ephys-make.js');
/** Every built-in stage's declared version, written at build time by lib/builtin/versions.ts. */
export const builtinVersionsPath = path.join(packageRoot, 'dist', 'builtin-versions.json');
