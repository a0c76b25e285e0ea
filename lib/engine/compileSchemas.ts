/**
 * Build step: compile pipeline.schema.json and every stage schema to plain validation code
 * (ajv standalone), so a run does not spend tens of milliseconds compiling schemas each time.
 * Run after tsc; the engine falls back to compiling at run time when the output is missing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { newAjv } from './ajv.js';
import { compiledSchemasPath, packageRoot, stagesSourceDir } from '../base/paths.js';

export const pipelineSchemaId = 'https://ephys-make/pipeline.schema.json';

export function schemaFiles(): string[] {
  const files = [path.join(packageRoot, 'lib', 'engine', 'pipeline.schema.json')];
  if (fs.existsSync(stagesSourceDir)) {
    const common = path.join(stagesSourceDir, 'common.schema.json');
    if (fs.existsSync(common)) files.push(common);
    for (const d of fs.readdirSync(stagesSourceDir).sort()) {
      const f = path.join(stagesSourceDir, d, 'schema.json');
      if (fs.existsSync(f)) files.push(f);
    }
  }
  return files;
}

type Validator = ((data: unknown) => boolean) & { errors?: unknown };
let loaded: { validators: Record<string, Validator>; builtMs: number } | null | undefined;

/**
 * The precompiled validator of a schema file, or undefined when the build did not make one or the
 * schema was edited after the build (then it is compiled at run time, so an edit is never ignored).
 */
export function compiledValidator(file: string, id: string): Validator | undefined {
  if (loaded === undefined) {
    try {
      loaded = { validators: createRequire(import.meta.url)(compiledSchemasPath), builtMs: fs.statSync(compiledSchemasPath).mtimeMs };
    } catch {
      loaded = null;
    }
  }
  if (!loaded) return undefined;
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st || st.mtimeMs > loaded.builtMs) return undefined;
  return loaded.validators[id];
}

async function build(): Promise<void> {
  const ajv = newAjv({ code: { source: true } });
  for (const f of schemaFiles()) ajv.addSchema(JSON.parse(fs.readFileSync(f, 'utf8')));
  const standalone = ((await import('ajv/dist/standalone/index.js')) as any).default;
  fs.writeFileSync(compiledSchemasPath, standalone(ajv));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  build().catch((err) => { console.error(`schema compilation failed: ${err.message}`); process.exitCode = 1; });
}
