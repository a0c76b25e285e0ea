/**
 * A job's input JSON, laid out as the ecephys_spike_sorting modules expect (`directories`,
 * `ephys_params`, `{module}_params`, ...). Layers, later ones winning: shared params (only the
 * sections the stage takes), the stage's params, the recording's own values, `--set`. Then
 * placeholders are filled, schema defaults added, and the whole validated; its hash decides
 * whether params changed.
 */
import crypto from 'node:crypto';
import path, { basename } from 'node:path';
import type { Pipeline, Sections, Stage } from './config.js';
import type { Recording } from './recordings.js';
import { fillPlaceholders, PlaceholderError } from './template.js';
import { loadStageSchema, schemaFileFor } from './stageSchemas.js';
import { schemaErrorsToDiagnostics, spanAt } from './yamlSource.js';
import { didYouMean, fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';

/** Values from somewhere other than pipeline.yaml, with where they came from (for --explain). */
export interface Layer {
  source: string;
  params?: Sections;
  stages?: Record<string, Sections>;
}

export interface SetValue { target: string; path: string[]; value: unknown; text: string }

export interface JobInput {
  json: Record<string, any>;
  /** Where values not from pipeline.yaml came from, by dotted key (for --explain). */
  origins?: Map<string, string>;
  hash: string;
  lookup: (name: string) => string | undefined;
  schemaFile?: string;
}

export function isPlainObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepMerge(base: Record<string, any>, over: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out;
}

function pick(sections: Sections | undefined, keep: (k: string) => boolean): Sections {
  const out: Sections = {};
  for (const [k, v] of Object.entries(sections ?? {})) if (keep(k)) out[k] = v;
  return out;
}

function setPath(obj: Record<string, any>, path: string[], value: unknown): Record<string, any> {
  const [head, ...rest] = path;
  const out = { ...obj };
  out[head] = rest.length ? setPath(isPlainObject(out[head]) ? out[head] : {}, rest, value) : value;
  return out;
}

/** JSON with sorted keys, so equal content always hashes the same. */
export function stableStringify(v: unknown): string {
  const out: string[] = [];
  const write = (x: unknown): void => {
    if (Array.isArray(x)) {
      out.push('[');
      for (let i = 0; i < x.length; i++) { if (i) out.push(','); write(x[i]); }
      out.push(']');
    } else if (isPlainObject(x)) {
      const keys = Object.keys(x).sort();
      out.push('{');
      for (let i = 0; i < keys.length; i++) {
        if (i) out.push(',');
        out.push(JSON.stringify(keys[i]), ':');
        write(x[keys[i]]);
      }
      out.push('}');
    } else {
      out.push(JSON.stringify(x) ?? 'null');
    }
  };
  write(v);
  return out.join('');
}

export function hashJson(v: unknown): string {
  return crypto.createHash('sha256').update(stableStringify(v)).digest('hex');
}

/** Its hash is computed on first use: a plan with no record to compare it with never needs it. */
class LazyJobInput implements JobInput {
  private hashed?: string;
  json: Record<string, any>;
  origins?: Map<string, string>;
  lookup: (name: string) => string | undefined;
  schemaFile?: string;
  constructor(parts: Omit<JobInput, 'hash'>) {
    this.json = parts.json; this.origins = parts.origins; this.lookup = parts.lookup; this.schemaFile = parts.schemaFile;
  }
  get hash(): string { return (this.hashed ??= hashJson(this.json)); }
}

export function jobInput(parts: Omit<JobInput, 'hash'>): JobInput {
  return new LazyJobInput(parts);
}

/** The first key (in sorted order) whose value differs, as a dotted path. */
export function firstDifference(a: unknown, b: unknown, prefix: string[] = []): { key: string; before: unknown; after: unknown } | undefined {
  // A section that appeared or vanished is reported by its first leaf key, not as a whole object.
  if (isPlainObject(a) && b === undefined) b = {};
  if (isPlainObject(b) && a === undefined) a = {};
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(a[k], b[k], [...prefix, k]);
      if (d) return d;
    }
    return undefined;
  }
  if (stableStringify(a) === stableStringify(b)) return undefined;
  return { key: prefix.join('.') || '(whole input JSON)', before: a, after: b };
}

/** `{name}`: an engine variable, a dotted path into the input JSON, or a unique leaf key in it. */
export function makeLookup(vars: Record<string, string>, json: Record<string, any>): (name: string) => string | undefined {
  let leaves: Map<string, unknown[]> | undefined;
  const asText = (v: unknown) => (v === undefined || isPlainObject(v) ? undefined : Array.isArray(v) ? JSON.stringify(v) : String(v));
  return (name) => {
    if (name in vars) return vars[name];
    if (name.includes('.')) {
      let cur: any = json;
      for (const seg of name.split('.')) cur = isPlainObject(cur) ? cur[seg] : undefined;
      return asText(cur);
    }
    if (!leaves) {
      const found = new Map<string, unknown[]>();
      const walk = (o: Record<string, any>) => {
        for (const [k, v] of Object.entries(o)) {
          if (isPlainObject(v)) walk(v);
          else { const l = found.get(k); if (l) l.push(v); else found.set(k, [v]); }
        }
      };
      walk(json);
      leaves = found;
    }
    const found = leaves.get(name);
    return found && found.length === 1 ? asText(found[0]) : undefined;
  };
}

/**
 * Fill placeholders in every string of the input JSON. A value may name another value
 * ({ap_band_file} inside a path), which is filled first; a loop of such names is an unknown placeholder.
 */
function fillAll(json: Record<string, any>, vars: Record<string, string>): Record<string, any> {
  const raw = makeLookup(vars, json);
  const memo = new Map<string, string | undefined>();
  const active = new Set<string>();
  const lookup = (name: string): string | undefined => {
    if (memo.has(name)) return memo.get(name);
    if (active.has(name)) return undefined;
    active.add(name);
    const v = raw(name);
    const filled = v !== undefined && !(name in vars) && v.includes('{') ? fillPlaceholders(v, lookup) : v;
    active.delete(name);
    memo.set(name, filled);
    return filled;
  };
  const fill = (v: unknown): unknown => {
    if (typeof v === 'string') return v.includes('{') || v.includes('}') ? fillPlaceholders(v, lookup) : v;
    if (Array.isArray(v)) return v.some((x) => typeof x === 'object' || typeof x === 'string') ? v.map(fill) : v;
    if (isPlainObject(v)) {
      const out: Record<string, any> = {};
      for (const k in v) out[k] = fill(v[k]);
      return out;
    }
    return v;
  };
  return fill(json) as Record<string, any>;
}

export interface BuildContext {
  pipeline: Pipeline;
  stage: Stage;
  recording: Recording;
  vars: Record<string, string>;
  layers: Layer[];
  sets: SetValue[];
}

interface StageBase {
  schemaFile?: string;
  schema?: ReturnType<typeof loadStageSchema>;
  keep: (section: string) => boolean;
  /** pipeline.yaml's shared sections the stage takes, under its own params: the same for every recording. */
  json: Record<string, any>;
}

const stageBases = new WeakMap<Stage, StageBase>();

function stageBase(pipeline: Pipeline, stage: Stage): StageBase {
  let b = stageBases.get(stage);
  if (!b) {
    const schemaFile = schemaFileFor(stage);
    const schema = schemaFile ? loadStageSchema(schemaFile) : undefined;
    const wanted = sectionsOf(pipeline, stage);
    const keep = (k: string) => wanted.has(k);
    b = { schemaFile, schema, keep, json: deepMerge(pick(pipeline.params, keep), stage.params) };
    stageBases.set(stage, b);
  }
  return b;
}

export function buildInputJson(c: BuildContext): Result<JobInput> {
  const { pipeline, stage } = c;
  // Merging never changes its arguments, so the shared base is safe to start from every time.
  const { schemaFile, schema, keep, json: base } = stageBase(pipeline, stage);
  let json = base;
  const origins = new Map<string, string>();
  const note = (o: Record<string, any>, source: string, prefix = '') => {
    for (const [k, v] of Object.entries(o)) { if (isPlainObject(v)) note(v, source, `${prefix}${k}.`); else origins.set(prefix + k, source); }
  };
  for (const layer of c.layers) {
    const shared = pick(layer.params, keep), own = layer.stages?.[stage.name] ?? {};
    json = deepMerge(deepMerge(json, shared), own);
    note(shared, path.basename(layer.source));
    note(own, path.basename(layer.source));
  }
  for (const s of c.sets) {
    if (s.target === stage.name || (s.target === 'params' && keep(s.path[0]))) {
      json = setPath(json, s.path, s.value);
      origins.set(s.path.join('.'), `--set ${s.text}`);
    }
  }
  try {
    json = fillAll(json, c.vars);
  } catch (err) {
    if (!(err instanceof PlaceholderError)) throw err;
    return fail({
      ...spanAt(pipeline.source, ['stages', stage.name], true),
      recording: c.recording.name,
      message: `stage '${stage.name}', recording ${c.recording.name}: unknown placeholder {${err.placeholder}} in "${err.template}"; known: ${Object.keys(c.vars).map((v) => `{${v}}`).join(', ')} and keys of the input JSON`,
    });
  }
  if (schema) {
    if (!schema.validate(json)) {
      const place = (segs: string[], key: boolean) => {
        const inStage = spanAt(pipeline.source, ['stages', stage.name, 'params', ...segs], key);
        if (inStage.line && segs.length && hasPath(stage.params, segs)) return inStage;
        if (hasPath(pipeline.params, segs)) return spanAt(pipeline.source, ['params', ...segs], key);
        return spanAt(pipeline.source, ['stages', stage.name], true);
      };
      const diags: Diagnostic[] = schemaErrorsToDiagnostics(schema.validate.errors ?? [], place, `input JSON of '${stage.name}' (${c.recording.name}) at`)
        .map((d) => ({ ...d, recording: c.recording.name, message: pointerStyle(d.message), notes: [{ message: `schema: ${schemaFile}` }] }));
      return fail(...diags);
    }
  }
  return ok(jobInput({ json, lookup: makeLookup(c.vars, json), schemaFile, origins }));
}

/** Does pipeline.yaml itself set this value (so an error can point at it)? */
function hasPath(obj: Record<string, any>, segs: string[]): boolean {
  let cur: any = obj;
  for (const s of segs) {
    if (!isPlainObject(cur) || !(s in cur)) return false;
    cur = cur[s];
  }
  return true;
}

/** Name the place as a JSON pointer, the way the module's own JSON would be addressed. */
function pointerStyle(message: string): string {
  return message.replace(/ at ([A-Za-z0-9_.]+|\(top level\))/, (_, p: string) => ` at /${p === '(top level)' ? '' : p.split('.').join('/')}`);
}

/**
 * The top-level keys of a stage's input JSON: its schema's (or `sections:`, else every shared
 * section), and those of its own params.
 */
export function sectionsOf(pipeline: Pipeline, stage: Stage): Set<string> {
  const schemaFile = schemaFileFor(stage);
  const schema = schemaFile ? loadStageSchema(schemaFile) : undefined;
  return new Set([...(schema?.sections ?? stage.sections ?? Object.keys(pipeline.params)), ...Object.keys(stage.params)]);
}

/**
 * `--set STAGE.SECTION.KEY=VALUE` or `--set params.SECTION.KEY=VALUE`. A section the stage (or, for
 * params, any stage) does not take is an error: the modules would silently ignore it.
 */
export function parseSet(text: string, pipeline: Pipeline): Result<SetValue> {
  const stageNames = [...pipeline.stageByName.keys()];
  const eq = text.indexOf('=');
  const lhs = eq > 0 ? text.slice(0, eq) : '';
  const segs = lhs.split('.');
  if (eq <= 0 || segs.length < 2 || segs.some((x) => x === '')) return fail({ message: `--set ${text}: expected STAGE.KEY=VALUE or params.SECTION.KEY=VALUE` });
  const [target, ...path] = segs;
  if (target !== 'params' && !pipeline.stageByName.has(target)) {
    return fail({ message: `--set ${text}: '${target}' is not a stage${didYouMean(target, [...stageNames, 'params'])} (stages: ${stageNames.join(', ')}; or 'params' for the shared sections)` });
  }
  const stage = pipeline.stageByName.get(target);
  const valid = new Set(stage ? sectionsOf(pipeline, stage) : Object.keys(pipeline.params));
  if (!stage) for (const s of pipeline.stages) for (const k of sectionsOf(pipeline, s)) valid.add(k);
  if (!stage && path.length < 2) return fail({ message: `--set ${text}: expected params.SECTION.KEY=VALUE (sections: ${[...valid].sort().join(', ') || 'none'})` });
  if (!valid.has(path[0])) {
    const whose = stage ? `stage '${target}' takes no section` : 'no stage takes a section';
    const hint = stage ? `; to add one, declare it under stages.${target}.params in ${basename(pipeline.file)}` : '';
    return fail({ message: `--set ${text}: ${whose} '${path[0]}'${didYouMean(path[0], valid)}; sections: ${[...valid].sort().join(', ') || 'none'}${hint}` });
  }
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try { value = JSON.parse(raw); } catch { /* a bare word stays a string */ }
  return ok({ target, path, value, text });
}
