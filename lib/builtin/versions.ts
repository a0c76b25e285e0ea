/**
 * Build step: each built-in stage's declared `version`, read by loading the stage itself and
 * written to dist/builtin-versions.json. Planning reads that one small file, so a version is
 * never guessed from compiled text and no stage is loaded to plan.
 */
import fs from 'node:fs';
import path from 'node:path';
import { builtinVersionsPath, stagesBuildDir } from '../base/paths.js';
import { writeFileAtomic } from '../base/atomicFile.js';
import { loadBuiltin } from './host.js';

export async function declaredVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(stagesBuildDir).sort()) {
    if (!fs.existsSync(path.join(stagesBuildDir, name, 'index.js'))) continue;
    const stage = await loadBuiltin(name);
    if (typeof stage?.version !== 'string' || !stage.version) throw new Error(`stages/${name}/index.ts: the exported stage has no version string`);
    out[name] = stage.version;
  }
  return out;
}

const versions = await declaredVersions();
writeFileAtomic(builtinVersionsPath, JSON.stringify(versions, null, 2) + '\n');
