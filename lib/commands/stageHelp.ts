/**
 * `ephys-make help STAGE`: a stage's runner, inputs and outputs (the pipeline's own definition
 * where there is a pipeline.yaml, else the shipped pipelines' declaration of that module) and
 * every parameter of its input JSON with type, default and meaning, read from
 * stages/MODULE/schema.json and the common sections of stages/common.schema.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Io } from '../base/io.js';
import { builtinVersionsPath, packageRoot, stagesBuildDir, stagesSourceDir } from '../base/paths.js';
import { loadPipeline, type Pipeline, type Stage } from '../engine/config.js';
import { buildGraph, normaliseTemplate } from '../engine/graph.js';
import { schemaFileFor } from '../engine/stageSchemas.js';
import { isPlainObject } from '../engine/inputJson.js';
import { pythonModulePrefix } from '../engine/runners/argv.js';
import { printDiagnostics } from './options.js';
import { shellWord } from './invocation.js';

/** Where a stage is described from, best first when there is no pipeline.yaml of the user's. */
const shippedPipelines = [path.join(packageRoot, 'pipeline.yaml'), path.join(packageRoot, 'examples', 'demo.pipeline.yaml')];

/** ephys_params values a recording's acquisition files set under `layout:` (lib/engine/layout.ts). */
const layoutKeys = ['num_channels', 'sample_rate', 'lfp_sample_rate', 'bit_volts', 'reference_channels', 'probe_type', 'vertical_site_spacing', 'reorder_lfp_channels', 'lfp_band_file'];

const width = 100;

/** `given`: the pipeline file was named with -f (else ./pipeline.yaml, used when it is there). */
export interface StageHelpContext { file: string; given: boolean; io: Io; prog: string }

/** Exit status, or undefined when `name` is neither a stage of the pipeline nor a shipped module. */
export function stageHelp(name: string, ctx: StageHelpContext): number | undefined {
  const { io } = ctx;
  let pipeline: Pipeline | undefined;
  if (ctx.given || fs.existsSync(ctx.file)) {
    const loaded = loadPipeline(ctx.file);
    if (loaded.ok) pipeline = loaded.value;
    else if (ctx.given) return printDiagnostics(io, loaded.diagnostics);
    else io.err(`warning: ${path.relative(io.cwd, ctx.file) || ctx.file} has errors (see ${ctx.prog} -n -f ${path.relative(io.cwd, ctx.file)}); showing the shipped definition\n`);
  }
  const own = pipeline?.stageByName.get(name);
  if (own && pipeline) {
    // The hint must load this same pipeline when pasted here: -f unless it is ./pipeline.yaml.
    const f = pipeline.file === path.join(io.cwd, 'pipeline.yaml') ? '' : ` -f ${shellWord(path.relative(io.cwd, pipeline.file))}`;
    io.out(renderStage(own, pipeline, `a stage of ${path.relative(io.cwd, pipeline.file) || pipeline.file}`, `${ctx.prog}${f}`));
    return 0;
  }
  const shipped = shippedStage(name);
  const hasSchema = fs.existsSync(path.join(stagesSourceDir, name, 'schema.json'));
  if (!shipped && !hasSchema) return undefined;
  const note = pipeline
    ? ` (not a stage of ${path.relative(io.cwd, pipeline.file)}, whose stages are ${[...pipeline.stageByName.keys()].join(', ')})`
    : fs.existsSync(ctx.file) ? '' : ' (no pipeline.yaml here; -f FILE shows its own definition)';
  if (shipped) {
    io.out(renderStage(shipped.stage, shipped.pipeline, `as the shipped ${path.relative(packageRoot, shipped.pipeline.file)} declares it${note}`));
  } else {
    io.out(`${name}: module ${name}, in none of the shipped pipelines${note}\n` + runnerLines(name) + parameterText({ name, module: name, params: {}, sections: undefined }, { params: {}, label: '' }, path.join(stagesSourceDir, name, 'schema.json')));
  }
  return 0;
}

/** Stage names of the pipeline at `file` (when it loads) and the modules with a shipped schema. */
export function stageNames(file: string): string[] {
  const names = new Set<string>();
  if (fs.existsSync(file)) {
    const p = loadPipeline(file);
    if (p.ok) for (const n of p.value.stageByName.keys()) names.add(n);
  }
  for (const d of fs.readdirSync(stagesSourceDir)) if (fs.existsSync(path.join(stagesSourceDir, d, 'schema.json'))) names.add(d);
  return [...names].sort();
}

function shippedStage(name: string): { stage: Stage; pipeline: Pipeline } | undefined {
  for (const file of shippedPipelines) {
    const p = loadPipeline(file);
    if (!p.ok) continue;
    const stage = p.value.stageByName.get(name) ?? p.value.stages.find((s) => s.module === name);
    if (stage) return { stage, pipeline: p.value };
  }
  return undefined;
}

function builtinVersion(module: string): string | undefined {
  try { return JSON.parse(fs.readFileSync(builtinVersionsPath, 'utf8'))[module]; } catch { return undefined; }
}

function hasBuiltin(module: string): boolean {
  return fs.existsSync(path.join(stagesBuildDir, module, 'index.js'));
}

/** For a module outside any pipeline: the ways it can run. */
function runnerLines(module: string): string {
  const ways = [`run: python-module  (python -m ${pythonModulePrefix}${module})`];
  if (hasBuiltin(module)) ways.push(`run: builtin        (ephys-make's own implementation${versionText(module)})`);
  return ways.map((w) => `  ${w}\n`).join('');
}

function versionText(module: string): string {
  const v = builtinVersion(module);
  return v ? `, version ${v}` : '';
}

/** `prog`: how to run ephys-make on this pipeline, for the input-json hint; none for a shipped one. */
function renderStage(stage: Stage, pipeline: Pipeline, where: string, prog?: string): string {
  let out = `${stage.name}: ${where}\n`;
  switch (stage.run) {
    case 'builtin': out += `  run: builtin ${stage.module} (ephys-make's own implementation${versionText(stage.module)})\n`; break;
    case 'python-module': out += `  run: python-module: ${stage.python ?? pipeline.python} -m ${pythonModulePrefix}${stage.module} --input_json {input_json} --output_json {output_json}\n`; break;
    case 'command': out += `  run: command: ${(stage.command ?? []).map((w) => (/\s/.test(w) ? JSON.stringify(w) : w)).join(' ')}\n`; break;
  }
  const graph = buildGraph(pipeline);
  const producer = (t: string) => (graph.ok ? graph.value.producerOf.get(normaliseTemplate(t)) : undefined);
  const consumers = graph.ok ? [...(graph.value.consumers.get(stage.name) ?? [])] : [];
  out += '\ninputs:\n';
  if (!stage.inputs.length) out += '  (none declared)\n';
  const pathWidth = Math.max(0, ...stage.inputs.map((i) => i.path.length));
  for (const i of stage.inputs) {
    const notes = [i.optional ? 'optional' : '', producer(i.path) ? `made by ${producer(i.path)}` : 'the recording\'s own, or made outside the pipeline'].filter(Boolean);
    out += `  ${i.path.padEnd(pathWidth)}  (${notes.join('; ')})\n`;
  }
  out += 'outputs:\n';
  if (!stage.outputs.length) out += '  (none declared)\n';
  for (const o of stage.outputs) out += `  ${o}${stage.temp ? '  (temp: removed once every consumer succeeded)' : ''}\n`;
  const extra: string[] = [];
  if (consumers.length) extra.push(`read by: ${consumers.join(', ')}`);
  if (stage.after.length) extra.push(`runs after: ${stage.after.join(', ')}`);
  if (Object.keys(stage.resources).length) extra.push(`resources: ${Object.entries(stage.resources).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (Object.keys(stage.inPlace).length) extra.push(`in_place: ${Object.entries(stage.inPlace).map(([k, v]) => `${k} -> a copy at ${v}`).join(', ')}`);
  if (stage.retries) extra.push(`retries: ${stage.retries}`);
  for (const e of extra) out += `${e}\n`;
  out += `input JSON: {output}/.ephys-make/${stage.name}/input.json${prog ? ` (one recording's, without running: ${prog} input-json ${stage.name} --dir DIR)` : ''}\n`;
  const schema = schemaFileFor(stage);
  if (!schema) {
    out += `\nparameters: no input-JSON schema (stages/${stage.module}/schema.json does not exist); the stage gets the shared params${stage.sections ? ` sections ${stage.sections.join(', ')}` : ''} and its own:\n`;
    out += indentLines(JSON.stringify({ ...pipeline.params, ...stage.params }, null, 2), 2);
    return out;
  }
  return out + parameterText(stage, { params: pipeline.params, recordings: pipeline.recordings, label: path.basename(pipeline.file) }, schema);
}

type SchemaNode = Record<string, any>;

let common: SchemaNode | undefined;
function commonDefinitions(): SchemaNode {
  common ??= JSON.parse(fs.readFileSync(path.join(stagesSourceDir, 'common.schema.json'), 'utf8'));
  return common!.definitions ?? {};
}

/** A section or parameter with its $ref / allOf resolved: the fields that describe it. */
function resolve(node: SchemaNode): SchemaNode {
  let out: SchemaNode = {};
  if (typeof node.$ref === 'string') {
    const m = /common\.schema\.json#\/definitions\/(.+)$/.exec(node.$ref);
    if (m) out = resolve(commonDefinitions()[m[1]] ?? {});
  }
  for (const part of node.allOf ?? []) {
    const r = resolve(part);
    out = { ...out, ...r, required: [...(out.required ?? []), ...(r.required ?? [])] };
  }
  const own = { ...node };
  delete own.$ref; delete own.allOf;
  return { ...out, ...own, required: [...new Set([...(out.required ?? []), ...(own.required ?? [])])], properties: { ...(out.properties ?? {}), ...(own.properties ?? {}) } };
}

function parameterText(stage: Pick<Stage, 'name' | 'module' | 'params' | 'sections'>, pipeline: SetValues, schemaFile: string): string {
  const schema = resolve(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
  let out = '';
  if (schema.description) out += `\n${wrap(schema.description, 0)}`;
  const shown = path.relative(packageRoot, schemaFile).startsWith('..') ? schemaFile : path.relative(packageRoot, schemaFile);
  out += '\n' + wrap(`parameters: the sections of its input JSON (${shown}). Set them in pipeline.yaml under stages.${stage.name}.params (or the shared params), per recording in an ephys-make.yaml, or with --set ${stage.name}.SECTION.KEY=VALUE.`, 0);
  for (const [section, raw] of Object.entries<SchemaNode>(schema.properties ?? {})) {
    const node = resolve(raw);
    const shared = section in commonDefinitions() ? ' (shared by the modules)' : '';
    out += `\n${section}${shared}\n`;
    if (section === 'ephys_params' && pipeline.recordings && pipeline.recordings.layout !== 'none') {
      out += wrap(`With layout: ${pipeline.recordings.layout}, each recording's .meta / structure.oebin sets ${layoutKeys.join(', ')}.`, 2);
    }
    out += propertiesText(node, 2, [section], stage, pipeline);
  }
  return out;
}

/** The values a pipeline sets, and the name they are shown under (the pipeline file's name). */
interface SetValues { params: Pipeline['params']; label: string; recordings?: Pipeline['recordings'] }

function propertiesText(node: SchemaNode, indent: number, at: string[], stage: Pick<Stage, 'params'>, pipeline: SetValues): string {
  let out = '';
  const required = new Set<string>(node.required ?? []);
  for (const [key, raw] of Object.entries<SchemaNode>(node.properties ?? {})) {
    const p = resolve(raw);
    const facts = [typeText(p)];
    if (required.has(key)) facts.push('required');
    if (p.default !== undefined && !(isPlainObject(p.default) && p.properties)) facts.push(`default ${JSON.stringify(p.default)}`);
    const set = valueAt(stage.params, [...at, key]) ?? valueAt(pipeline.params, [...at, key]);
    if (set !== undefined && !isPlainObject(set)) facts.push(`${pipeline.label}: ${JSON.stringify(set)}`);
    out += `${' '.repeat(indent)}${key}: ${facts.filter(Boolean).join(', ')}\n`;
    if (p.description) out += wrap(p.description, indent + 4);
    if (p.properties && Object.keys(p.properties).length) out += propertiesText(p, indent + 2, [...at, key], stage, pipeline);
  }
  return out;
}

function valueAt(o: Record<string, any>, keys: string[]): unknown {
  let v: any = o;
  for (const k of keys) { if (!isPlainObject(v)) return undefined; v = v[k]; }
  return v;
}

function typeText(p: SchemaNode): string {
  let t: string;
  if (Array.isArray(p.enum)) t = `one of ${p.enum.map((e: unknown) => JSON.stringify(e)).join(', ')}`;
  else if (p.type === 'array') {
    const item = p.items?.type ? `${p.items.type}s` : 'values';
    t = p.minItems !== undefined && p.minItems === p.maxItems ? `${p.minItems} ${item}` : `list of ${item}`;
  } else t = Array.isArray(p.type) ? p.type.join(' or ') : p.type ?? 'any value';
  const bounds: string[] = [];
  if (p.exclusiveMinimum !== undefined) bounds.push(`> ${p.exclusiveMinimum}`);
  if (p.minimum !== undefined) bounds.push(`>= ${p.minimum}`);
  if (p.exclusiveMaximum !== undefined) bounds.push(`< ${p.exclusiveMaximum}`);
  if (p.maximum !== undefined) bounds.push(`<= ${p.maximum}`);
  if (p.not?.multipleOf === 2) bounds.push('odd');
  return [t, ...bounds].join(' ');
}

function wrap(text: string, indent: number): string {
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && pad.length + line.length + 1 + word.length > width) { lines.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l) => pad + l + '\n').join('');
}

function indentLines(text: string, indent: number): string {
  return text.split('\n').map((l) => ' '.repeat(indent) + l).join('\n') + '\n';
}
