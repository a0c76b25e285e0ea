/**
 * Stage input-JSON schemas: `stages/MODULE/schema.json` (or a stage's own `schema:`), all in one
 * Ajv so they can share `stages/common.schema.json`. Compiled only when a stage needs one.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { newAjv } from './ajv.js';
import { stagesSourceDir } from '../base/paths.js';
import { compiledValidator } from './compileSchemas.js';
import type { Stage } from './config.js';

export interface StageSchema {
  file: string;
  validate: ValidateFunction;
  /** Top-level sections the module reads; only these go into its input JSON. */
  sections: string[];
}

let ajv: ReturnType<typeof newAjv> | undefined;
const byFile = new Map<string, StageSchema>();

function sharedAjv() {
  if (ajv) return ajv;
  ajv = newAjv();
  const common = path.join(stagesSourceDir, 'common.schema.json');
  if (fs.existsSync(common)) ajv.addSchema(JSON.parse(fs.readFileSync(common, 'utf8')));
  return ajv;
}

const fileOf = new WeakMap<Stage, string | null>();

/** The file a stage's schema is (or would be) read from. */
export function schemaCandidate(stage: Stage): string {
  return stage.schemaFile ?? path.join(stagesSourceDir, stage.module, 'schema.json');
}

export function schemaFileFor(stage: Stage): string | undefined {
  let f = fileOf.get(stage);
  if (f === undefined) {
    const file = schemaCandidate(stage);
    // A command is the lab's own program (their `backup` script, say): it takes a shipped module's
    // schema only when `module:` names that module.
    const shipped = stage.run !== 'command' || stage.moduleGiven;
    f = stage.schemaFile || (shipped && fs.existsSync(file)) ? file : null;
    fileOf.set(stage, f);
  }
  return f ?? undefined;
}

export function loadStageSchema(file: string): StageSchema {
  const cached = byFile.get(file);
  if (cached) return cached;
  const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
  // Shipped schemas come precompiled from the build; a lab's own schema is compiled here.
  const shipped = path.dirname(path.dirname(file)) === stagesSourceDir && schema.$id ? compiledValidator(file, schema.$id) : undefined;
  let validate = shipped as ValidateFunction | undefined;
  if (!validate) {
    const a = sharedAjv();
    validate = (schema.$id ? a.getSchema(schema.$id) : undefined) ?? a.compile(schema);
  }
  const entry = { file, validate, sections: Object.keys(schema.properties ?? {}) };
  byFile.set(file, entry);
  return entry;
}
