/**
 * pipeline.yaml -> a validated Pipeline. Every problem becomes a diagnostic with file:line:column;
 * all of them are returned together.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { readYamlFile, spanAt, schemaErrorsToDiagnostics, type YamlSource } from './yamlSource.js';
import { didYouMean, fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';
import { splitWords } from './template.js';
import { newAjv } from './ajv.js';
import { packageRoot } from '../base/paths.js';
import { compiledValidator, pipelineSchemaId } from './compileSchemas.js';
import { parseSlurmDefaults, parseStageSlurm, type ExecutorKind, type SlurmDefaults, type StageSlurm } from './slurm/settings.js';

export type RunnerKind = 'builtin' | 'python-module' | 'command';
export type Layout = 'auto' | 'spikeglx' | 'openephys' | 'none';
export type Sections = Record<string, Record<string, unknown>>;

export interface FileSpec { path: string; optional: boolean }

export interface Stage {
  name: string;
  run: RunnerKind;
  /** Python module or built-in name; also names stages/MODULE/schema.json. */
  module: string;
  /** `module:` was written; else it is the stage's name (a command stage then takes no shipped schema). */
  moduleGiven: boolean;
  command?: string[];
  python?: string;
  inputs: FileSpec[];
  outputs: string[];
  /** Outputs the program appends to rather than replaces; the engine removes them before each run. */
  appendsTo: string[];
  after: string[];
  params: Sections;
  sections?: string[];
  schemaFile?: string;
  resources: Record<string, number>;
  temp: boolean;
  retries: number;
  inPlace: Record<string, string>;
  space?: { factor: number; of: string } | { bytes: number };
  /** sbatch settings when jobs go to SLURM. */
  slurm: StageSlurm;
}

export interface Pipeline {
  file: string;
  dir: string;
  source: YamlSource;
  recordings: {
    root: string;
    match: string;
    exclude: string[];
    output: string;
    layout: Layout;
    settleSeconds: number;
    when?: string;
  };
  python: string;
  params: Sections;
  resources: Record<string, number>;
  executor: ExecutorKind;
  slurm: SlurmDefaults;
  stages: Stage[];
  stageByName: Map<string, Stage>;
}

let validatePipeline: ValidateFunction | undefined;
function pipelineValidator(): ValidateFunction {
  const file = path.join(packageRoot, 'lib', 'engine', 'pipeline.schema.json');
  validatePipeline ??= (compiledValidator(file, pipelineSchemaId) as ValidateFunction | undefined)
    ?? newAjv().compile(JSON.parse(fs.readFileSync(file, 'utf8')));
  return validatePipeline;
}

export const defaultSettleSeconds = 30;

export function loadPipeline(file: string): Result<Pipeline> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) {
    return fail({ message: `no pipeline file at ${abs} (give one with -f FILE; the shipped pipeline.yaml is a starting point)` });
  }
  const { source, diagnostics } = readYamlFile(abs);
  if (!source) return fail(...diagnostics);
  return parsePipeline(source);
}

export function parsePipeline(source: YamlSource): Result<Pipeline> {
  const place = (segs: string[], key: boolean) => spanAt(source, segs, key);
  const raw = source.value as any;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return fail({ ...place([], false), message: 'pipeline file must be a mapping with keys version, recordings, stages' });
  }
  const validate = pipelineValidator();
  if (!(validate as (d: unknown) => boolean)(raw)) return fail(...schemaErrorsToDiagnostics(validate.errors ?? [], place, 'key'));

  const diags: Diagnostic[] = [];
  const dir = path.dirname(source.file);
  const resources: Record<string, number> = { ...(raw.resources ?? {}) };
  const stages: Stage[] = [];
  for (const [name, s] of Object.entries<any>(raw.stages)) {
    const at = (...segs: string[]) => place(['stages', name, ...segs], false);
    let command: string[] | undefined;
    if (s.command !== undefined) {
      if (Array.isArray(s.command)) command = s.command;
      else {
        const words = splitWords(s.command);
        if (words.ok) command = words.value;
        else diags.push({ ...at('command'), message: `stages.${name}.command: ${words.error}` });
      }
    }
    if (s.run === 'command' && !command) diags.push({ ...place(['stages', name], true), message: `stage '${name}' has run: command but no command` });
    if (s.run !== 'command' && s.command !== undefined) diags.push({ ...at('command'), message: `stages.${name}.command is only used with run: command (this stage has run: ${s.run})` });
    for (const pool of Object.keys(s.resources ?? {})) {
      if (!(pool in resources)) {
        diags.push({ ...place(['stages', name, 'resources', pool], true), message: `stage '${name}' asks for pool '${pool}', which is not declared under resources${didYouMean(pool, Object.keys(resources))}; declare it, e.g. resources: { ${pool}: 1 }` });
      } else if (s.resources[pool] > resources[pool]) {
        // It would wait forever for slots that do not exist.
        diags.push({ ...place(['stages', name, 'resources', pool], false), message: `stage '${name}' asks for ${s.resources[pool]} ${pool} slots, but the pool has ${resources[pool]} (resources: { ${pool}: ${resources[pool]} }); ask for at most ${resources[pool]}, or make the pool larger` });
      }
    }
    (s.appends_to ?? []).forEach((o: string, i: number) => {
      if (!(s.outputs ?? []).includes(o)) {
        diags.push({ ...at('appends_to', String(i)), message: `stages.${name}.appends_to: '${o}' is not one of the stage's outputs; list it under outputs too (the engine removes only declared outputs)` });
      }
    });
    let space: Stage['space'];
    if (s.space) {
      const m = /^\s*([0-9.]+)\s*x\s*([A-Za-z_][A-Za-z0-9_.]*)\s*$/.exec(s.space);
      const b = /^\s*([0-9.]+)\s*([KMGT])i?B\s*$/.exec(s.space);
      if (m) space = { factor: Number(m[1]), of: m[2] };
      else if (b) space = { bytes: Number(b[1]) * 1024 ** ('KMGT'.indexOf(b[2]) + 1) };
    }
    stages.push({
      name,
      run: s.run,
      module: s.module ?? name,
      moduleGiven: s.module !== undefined,
      command,
      python: s.python,
      inputs: (s.inputs ?? []).map((f: any) => typeof f === 'string' ? { path: f, optional: false } : { path: f.path, optional: !!f.optional }),
      outputs: s.outputs ?? [],
      appendsTo: s.appends_to ?? [],
      after: s.after ?? [],
      params: s.params ?? {},
      sections: s.sections,
      schemaFile: s.schema ? path.resolve(dir, s.schema) : undefined,
      resources: s.resources ?? {},
      temp: !!s.temp,
      retries: s.retries ?? 0,
      inPlace: s.in_place ?? {},
      space,
      slurm: parseStageSlurm(name, s.slurm, place, diags),
    });
  }
  const slurm = parseSlurmDefaults(raw.slurm, place, diags);
  const stageByName = new Map(stages.map((s) => [s.name, s]));
  for (const s of stages) {
    s.after.forEach((dep, i) => {
      if (!stageByName.has(dep)) {
        diags.push({ ...place(['stages', s.name, 'after', String(i)], false), message: `stage '${s.name}' runs after unknown stage '${dep}'${didYouMean(dep, stageByName.keys())}` });
      }
    });
    if (s.schemaFile && !fs.existsSync(s.schemaFile)) {
      diags.push({ ...place(['stages', s.name, 'schema'], false), message: `schema file ${s.schemaFile} does not exist` });
    }
  }
  if (diags.length) return fail(...diags);

  const r = raw.recordings;
  return ok({
    file: source.file,
    dir,
    source,
    recordings: {
      root: path.resolve(dir, r.root ?? '.'),
      match: r.match,
      exclude: r.exclude ?? [],
      output: r.output ?? '{recording}',
      layout: r.layout ?? 'auto',
      settleSeconds: r.ready?.settle_seconds ?? defaultSettleSeconds,
      when: r.ready?.when,
    },
    python: raw.python ?? 'python3',
    params: raw.params ?? {},
    resources,
    executor: raw.executor ?? 'local',
    slurm,
    stages,
    stageByName,
  });
}
