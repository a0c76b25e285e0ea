/**
 * Jobs: one stage for one recording, with everything filled in: input JSON, argument vector,
 * input and output paths. Built once per run; `plan` then decides which of them run.
 */
import path from 'node:path';
import type { Pipeline, Stage } from './config.js';
import type { StageGraph } from './graph.js';
import type { Recording } from './recordings.js';
import { stateDir } from './recordings.js';
import { buildInputJson, jobInput, makeLookup, isPlainObject, type JobInput, type Layer, type SetValue } from './inputJson.js';
import { recordingInputKey, stageInputKey } from './inputKey.js';
import { recordPath } from './place.js';
import { recordingLayers } from './recordingParams.js';
import { fillPlaceholders, PlaceholderError } from './template.js';
import type { Definition, RecordingState } from './record.js';
import { builtinVersion } from './runners/builtinVersion.js';
import { shippedDriverOf } from './runners/shippedDriver.js';
import { spanAt } from './yamlSource.js';
import { hasModuleLimits, moduleLimitProblems } from './moduleLimits.js';
import { fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';
import { normaliseTemplate } from './graph.js';
import { OwnFiles } from './ownFiles.js';

export interface Job {
  id: string;
  stage: Stage;
  recording: Recording;
  stateDir: string;
  jobDir: string;
  inputJsonPath: string;
  outputJsonPath: string;
  logPath: string;
  /** Built on first use when a record vouches for it (see inputKey.ts); throws InputJsonError if it cannot be. */
  readonly input: JobInput;
  /** Decides "params changed": the record's when its layersKey matches, else the built JSON's. */
  readonly inputHash: string;
  /** What the input JSON is made of (inputKey.ts), recorded so a later plan can trust inputHash. */
  layersKey: string;
  /** True when the record vouched for the input JSON, so it was not built to plan this job. */
  fromRecord: boolean;
  inputs: Array<{ path: string; optional: boolean; template: string }>;
  outputs: string[];
  /** Outputs the program appends to: removed before each run (`appends_to`). */
  appendsTo: string[];
  /** in_place: input-JSON key -> the copy's path (also one of the outputs). */
  readonly inPlace: Array<{ key: string; source: string; copy: string }>;
  readonly argv?: string[];
  definition: Definition;
  deps: Job[];
  consumers: Job[];
  /** How many stages consume this one in the whole pipeline (some may be outside this run's targets). */
  consumerStages: number;
  /** The recording's own files: never written or removed, whatever a template says. */
  ownFiles: OwnFiles;
}

export interface JobSet {
  jobs: Job[];
  byRecording: Map<string, Job[]>;
}

/** A lazily built input JSON that can no longer be built (a file changed since it was planned). */
export class InputJsonError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join('; '));
    this.name = 'InputJsonError';
  }
}

/** What a recording's jobs share to build their input JSONs, when asked. */
interface RecordingContext {
  pipeline: Pipeline;
  rec: Recording;
  sets: SetValue[];
  layers(): Result<Layer[]>;
}

/** Build one job's input JSON and fill its templates; problems go to `into`. */
function resolveJob(ctx: RecordingContext, stage: Stage, jobDir: string, into: Diagnostic[]): Resolved | undefined {
  const { pipeline, rec, sets } = ctx;
  const l = ctx.layers();
  if (!l.ok) { into.push(...l.diagnostics); return undefined; }
  const vars = engineVars(rec, stage, jobDir);
  const built = buildInputJson({ pipeline, stage, recording: rec, vars, layers: l.value, sets });
  if (!built.ok) { into.push(...built.diagnostics); return undefined; }
  const limits = moduleLimitProblems(pipeline.source, stage, rec, built.value);
  if (limits.length) { into.push(...limits); return undefined; }
  return resolveTemplates(pipeline, stage, rec, vars, built.value, into);
}

/** A class, not a literal with getters and closures: planning makes one per job, thousands per run. */
class PlannedJob implements Job {
  fromRecord: boolean;
  deps: Job[] = [];
  consumers: Job[] = [];
  constructor(
    public id: string, public stage: Stage, public recording: Recording, public stateDir: string, public jobDir: string,
    private ctx: RecordingContext, private built: Resolved | undefined, private vouchedHash: string | undefined,
    public layersKey: string, public inputs: Job['inputs'], public outputs: string[], public appendsTo: string[],
    public definition: Definition, public consumerStages: number, public ownFiles: OwnFiles,
  ) {
    this.fromRecord = vouchedHash !== undefined;
  }
  get inputJsonPath(): string { return `${this.jobDir}/input.json`; }
  get outputJsonPath(): string { return `${this.jobDir}/output.json`; }
  get logPath(): string { return `${this.jobDir}/log.txt`; }
  private resolved(): Resolved {
    if (this.built) return this.built;
    const problems: Diagnostic[] = [];
    const r = resolveJob(this.ctx, this.stage, this.jobDir, problems);
    if (!r || problems.length) throw new InputJsonError(problems);
    return (this.built = r);
  }
  get input(): JobInput { return this.resolved().input; }
  get inputHash(): string { return this.vouchedHash ?? this.resolved().input.hash; }
  get inPlace(): Job['inPlace'] { return this.resolved().inPlace; }
  get argv(): string[] | undefined { return this.resolved().argv; }
  /** In-place copies already known (a vouched job's were checked when it was planned from scratch). */
  knownInPlace(): Job['inPlace'] { return this.built?.inPlace ?? []; }
}

export function engineVars(rec: Recording, stage: Stage, jobDir: string): Record<string, string> {
  return {
    recording: rec.dir,
    name: rec.name,
    root: rec.root,
    output: rec.output,
    marker: rec.marker,
    stage: stage.name,
    input_json: `${jobDir}/input.json`,
    output_json: `${jobDir}/output.json`,
  };
}

/** What the templates of a job resolve to, once its input JSON is known. */
interface Resolved {
  input: JobInput;
  inputs: Job['inputs'];
  outputs: string[];
  inPlace: Job['inPlace'];
  argv?: string[];
}

/**
 * Every job of `recordings` for `stageNames`. With `states` (the recordings' records, read by the
 * caller), a job whose done record carries the same layersKey takes its paths and input hash from
 * the record and builds its input JSON only if something asks for it.
 */
export function makeJobs(pipeline: Pipeline, graph: StageGraph, recordings: Recording[], stageNames: Set<string>, sets: SetValue[], states?: (stateDir: string) => RecordingState): Result<JobSet> {
  const diags: Diagnostic[] = [];
  const jobs: Job[] = [];
  const byRecording = new Map<string, Job[]>();
  const stages = perStage(pipeline, graph, stageNames, sets);
  for (const rec of recordings) {
    const sd = stateDir(rec);
    const recKey = recordingInputKey(pipeline, rec);
    const records = states?.(sd).jobs ?? {};
    let layers: Result<Layer[]> | undefined;
    const ctx: RecordingContext = { pipeline, rec, sets, layers: () => (layers ??= recordingLayers(pipeline, rec, recKey.exists)) };
    const list: PlannedJob[] = [];
    const byStage = new Map<string, Job>();
    const ownFiles = new OwnFiles(rec, pipeline.recordings.match, pipeline.recordings.exclude);
    for (const per of stages) {
      const stage = per.stage;
      // Stage names are plain identifiers and the state folder absolute: no join needed.
      const jobDir = `${sd}/${stage.name}`;
      const layersKey = `${per.layersKey}.${recKey.key}`;
      const record = records[stage.name];
      // A stage with a module limit (moduleLimits.ts) always builds its input JSON, to check it.
      const vouched = !per.moduleLimits && record?.status === 'done' && record.layersKey === layersKey && record.inputHash !== undefined
        && record.inputs && record.outputs && Object.keys(record.inputs).length === stage.inputs.length && Object.keys(record.outputs).length === stage.outputs.length;
      let resolved: Resolved | undefined;
      let inputs: Job['inputs'], outputs: string[];
      if (vouched) {
        // Records name files by place (place.ts): `{output}/...` is this recording's output folder.
        const keys = Object.keys(record.inputs!);
        inputs = stage.inputs.map((f, i) => ({ path: recordPath(rec, keys[i]), optional: f.optional, template: f.path }));
        outputs = Object.keys(record.outputs!).map((k) => recordPath(rec, k));
      } else {
        const before = diags.length;
        resolved = resolveJob(ctx, stage, jobDir, diags);
        if (!resolved || diags.length > before) continue;
        ({ inputs, outputs } = resolved);
      }
      const appendsTo = per.appendsAt.length ? per.appendsAt.map((i) => outputs[i]) : noPaths;
      const job = new PlannedJob(
        `${rec.name}:${stage.name}`, stage, rec, sd, jobDir, ctx, resolved, vouched ? record.inputHash! : undefined,
        layersKey, inputs, outputs, appendsTo, per.definition, per.consumerStages, ownFiles,
      );
      for (let i = 0; i < inputs.length; i++) {
        if (inputs[i].path && per.ownInputs[i]) ownFiles.add(inputs[i].path, `an input no stage makes (stage '${stage.name}' reads it)`);
      }
      for (const d of per.deps) {
        const dj = byStage.get(d);
        if (dj) { job.deps.push(dj); dj.consumers.push(job); }
      }
      byStage.set(stage.name, job);
      list.push(job);
    }
    // Second guard, on concrete paths: a template may reach a recording's file in ways the config
    // check cannot see (values from its .meta, an ephys-make.yaml, --set).
    if (layers?.ok) {
      for (const l of layers.value) {
        ownFiles.add(l.source, `its ${path.basename(l.source)}`);
        const lfp = l.params?.ephys_params?.lfp_band_file;
        if (typeof lfp === 'string') ownFiles.add(path.resolve(rec.dir, lfp), 'its LFP file');
      }
    }
    // Paths each job would write, checked against the recording's own files now that all are known.
    const before = diags.length;
    const refuse = (job: Job, file: string, segs: string[]) => {
      const why = ownFiles.reasonFor(file);
      if (why) diags.push({ ...spanAt(pipeline.source, ['stages', job.stage.name, ...segs]), message: `recording ${rec.name}: stage '${job.stage.name}' would write ${file}, which is the recording's own file (${why}); a recording's own files are never written or removed` });
    };
    for (const job of list) {
      for (let i = 0; i < job.outputs.length; i++) refuse(job, job.outputs[i], ['outputs', String(i)]);
      for (const c of job.knownInPlace()) refuse(job, c.copy, ['in_place', c.key]);
    }
    if (diags.length > before) continue;
    jobs.push(...list);
    byRecording.set(rec.dir, list);
  }
  return diags.length ? fail(...dedupe(diags)) : ok({ jobs, byRecording });
}

const noPaths: string[] = [];

interface PerStage {
  stage: Stage;
  layersKey: string;
  definition: Definition;
  consumerStages: number;
  deps: string[];
  /** Inputs no stage makes: the recording's own files. */
  ownInputs: boolean[];
  /** Indices of the outputs the program appends to. */
  appendsAt: number[];
  moduleLimits: boolean;
}

const perStageCache = new WeakMap<Set<string>, { graph: StageGraph; sets: SetValue[]; stages: PerStage[] }>();

/** What is the same for every recording, worked out once per planner (it plans one recording at a time). */
function perStage(pipeline: Pipeline, graph: StageGraph, stageNames: Set<string>, sets: SetValue[]): PerStage[] {
  const hit = perStageCache.get(stageNames);
  if (hit && hit.graph === graph && hit.sets === sets) return hit.stages;
  const stages = graph.order.filter((s) => stageNames.has(s.name)).map((stage) => ({
    stage,
    layersKey: stageInputKey(pipeline, stage, sets),
    definition: definitionOf(pipeline, stage),
    consumerStages: graph.consumers.get(stage.name)!.size,
    deps: [...graph.deps.get(stage.name)!],
    ownInputs: stage.inputs.map((f) => !graph.producerOf.has(normaliseTemplate(f.path))),
    appendsAt: stage.appendsTo.map((o) => stage.outputs.indexOf(o)),
    moduleLimits: hasModuleLimits(stage),
  }));
  perStageCache.set(stageNames, { graph, sets, stages });
  return stages;
}

/** Fill the stage's path templates from the engine's variables and the job's input JSON. */
function resolveTemplates(pipeline: Pipeline, stage: Stage, rec: Recording, vars: Record<string, string>, built: JobInput, diags: Diagnostic[]): Resolved {
  let input = built;
  const fill = (t: string, segs: string[]): string | undefined => {
    try {
      return fillPlaceholders(t, input.lookup);
    } catch (err) {
      if (!(err instanceof PlaceholderError)) throw err;
      diags.push({ ...spanAt(pipeline.source, ['stages', stage.name, ...segs]), recording: rec.name, message: `stage '${stage.name}': unknown placeholder {${err.placeholder}} in "${t}" (recording ${rec.name}); known: ${Object.keys(vars).map((v) => `{${v}}`).join(', ')} and keys of the input JSON` });
      return undefined;
    }
  };
  // Most paths come out of a template already absolute and clean; resolve only the others.
  const abs = (p: string | undefined) => (p === undefined ? '' : p.startsWith('/') && !/\/\.{0,2}(\/|$)|\/\//.test(p) ? p : path.resolve(rec.dir, p));
  const inputs = stage.inputs.map((f, i) => ({ path: abs(fill(f.path, ['inputs', String(i)])), optional: f.optional, template: f.path }));
  const outputs = stage.outputs.map((o, i) => abs(fill(o, ['outputs', String(i)])));
  const inPlace = Object.entries(stage.inPlace).map(([key, copy]) => {
    const source = input.lookup(key);
    if (source === undefined) diags.push({ ...spanAt(pipeline.source, ['stages', stage.name, 'in_place', key], true), message: `stage '${stage.name}': in_place key '${key}' is not a value of its input JSON` });
    return { key, source: abs(source), copy: abs(fill(copy, ['in_place', key])) };
  });
  // The module is told about the copy, never the source.
  if (inPlace.length) input = withValues(input, inPlace.map((c) => [c.key, c.copy]), vars);
  const argv = stage.command?.map((w, i) => fill(w, ['command', String(i)]) ?? '');
  return { input, inputs, outputs, inPlace, argv };
}

function dedupe(diags: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diags.filter((d) => { const k = `${d.file}:${d.line}:${d.message}`; if (seen.has(k)) return false; seen.add(k); return true; });
}

const definitions = new WeakMap<Stage, Definition>();

/** One definition object per stage, so the plan can compare it once and cache the comparison. */
export function definitionOf(pipeline: Pipeline, stage: Stage): Definition {
  const cached = definitions.get(stage);
  if (cached) return cached;
  const def: Definition = { runner: stage.run, module: stage.module };
  if (stage.command) def.command = stage.command;
  if (stage.run === 'python-module') {
    def.python = stage.python ?? pipeline.python;
    const driver = shippedDriverOf(stage.module);
    if (driver) def.version = driver.version;
  }
  if (stage.run === 'builtin') def.version = builtinVersion(stage.module);
  definitions.set(stage, def);
  return def;
}

/** Replace values named like placeholders (a dotted path or a unique leaf key) and rehash. */
function withValues(input: JobInput, values: Array<[string, string]>, vars: Record<string, string>): JobInput {
  const json = structuredClone(input.json);
  for (const [key, value] of values) {
    if (key.includes('.')) {
      const segs = key.split('.');
      let cur: any = json;
      for (const s of segs.slice(0, -1)) cur = cur?.[s];
      if (isPlainObject(cur)) cur[segs[segs.length - 1]] = value;
      continue;
    }
    const visit = (o: Record<string, any>) => { for (const k of Object.keys(o)) { if (k === key && !isPlainObject(o[k])) o[k] = value; else if (isPlainObject(o[k])) visit(o[k]); } };
    visit(json);
  }
  return jobInput({ json, lookup: makeLookup(vars, json), schemaFile: input.schemaFile, origins: input.origins });
}
