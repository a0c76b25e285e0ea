/**
 * The stage graph: an edge wherever one stage's declared output is another's input (compared as
 * templates, before placeholders are filled, so the graph is the same for every recording), plus
 * `after:`. Jobs are this graph times the recordings.
 */
import path from 'node:path';
import type { Pipeline, Stage } from './config.js';
import { spanAt } from './yamlSource.js';
import { fail, ok, didYouMean, type Diagnostic, type Result } from '../base/diagnostic.js';
import { ownFileTemplateProblems } from './ownFiles.js';

export interface StageGraph {
  /** Topological order; declaration order among stages free to go in any order. */
  order: Stage[];
  deps: Map<string, Set<string>>;
  consumers: Map<string, Set<string>>;
  /** normalised output template -> producing stage */
  producerOf: Map<string, string>;
}

export function normaliseTemplate(t: string): string {
  return path.posix.normalize(t.replace(/\\/g, '/'));
}

export function buildGraph(pipeline: Pipeline): Result<StageGraph> {
  const src = pipeline.source;
  const diags: Diagnostic[] = [];
  const producerOf = new Map<string, string>();
  const outputIndex = new Map<string, number>();
  for (const s of pipeline.stages) {
    s.outputs.forEach((o, i) => {
      const key = normaliseTemplate(o);
      const other = producerOf.get(key);
      if (other !== undefined && other !== s.name) {
        diags.push({
          ...spanAt(src, ['stages', s.name, 'outputs', String(i)]),
          message: `'${o}' is an output of two stages: '${other}' and '${s.name}' (each file must have one producer)`,
          notes: [{ ...spanAt(src, ['stages', other, 'outputs', String(outputIndex.get(key))]), message: `also made by '${other}' here` }],
        });
      } else {
        producerOf.set(key, s.name);
        outputIndex.set(key, i);
      }
    });
  }
  diags.push(...ownFileTemplateProblems(pipeline, (t) => producerOf.has(normaliseTemplate(t))));
  const deps = new Map<string, Set<string>>(pipeline.stages.map((s) => [s.name, new Set<string>()]));
  const consumers = new Map<string, Set<string>>(pipeline.stages.map((s) => [s.name, new Set<string>()]));
  // Why an edge exists, for cycle notes: "a reads x.dat, made by b".
  const why = new Map<string, { segs: string[]; text: string }>();
  for (const s of pipeline.stages) {
    s.inputs.forEach((f, i) => {
      const p = producerOf.get(normaliseTemplate(f.path));
      if (p === undefined || p === s.name) return;
      deps.get(s.name)!.add(p);
      consumers.get(p)!.add(s.name);
      why.set(`${s.name}->${p}`, { segs: ['stages', s.name, 'inputs', String(i)], text: `'${s.name}' reads ${f.path}, made by '${p}'` });
    });
    s.after.forEach((a, i) => {
      deps.get(s.name)!.add(a);
      consumers.get(a)!.add(s.name);
      why.set(`${s.name}->${a}`, { segs: ['stages', s.name, 'after', String(i)], text: `'${s.name}' runs after '${a}'` });
    });
  }
  if (diags.length) return fail(...diags);

  // Kahn's algorithm, always taking the earliest-declared ready stage, so the order is stable.
  const remaining = new Map([...deps].map(([k, v]) => [k, v.size]));
  const order: Stage[] = [];
  const done = new Set<string>();
  while (order.length < pipeline.stages.length) {
    const next = pipeline.stages.find((s) => !done.has(s.name) && remaining.get(s.name) === 0);
    if (!next) break;
    order.push(next);
    done.add(next.name);
    for (const c of consumers.get(next.name)!) remaining.set(c, remaining.get(c)! - 1);
  }
  if (order.length < pipeline.stages.length) {
    const cycle = findCycle(pipeline.stages.filter((s) => !done.has(s.name)).map((s) => s.name), deps);
    const notes = cycle.slice(0, -1).map((a, i) => {
      const w = why.get(`${a}->${cycle[i + 1]}`)!;
      return { ...spanAt(src, w.segs), message: w.text };
    });
    return fail({ ...spanAt(src, ['stages', cycle[0]], true), message: `the stages form a cycle: ${cycle.join(' -> ')}`, notes });
  }
  return ok({ order, deps, consumers, producerOf });
}

function findCycle(names: string[], deps: Map<string, Set<string>>): string[] {
  const inSet = new Set(names);
  for (const start of names) {
    const stack: string[] = [start];
    const seen = new Set<string>();
    const walk = (n: string): string[] | undefined => {
      for (const d of deps.get(n) ?? []) {
        if (!inSet.has(d)) continue;
        if (d === start) return [...stack, start];
        if (seen.has(d)) continue;
        seen.add(d);
        stack.push(d);
        const found = walk(d);
        if (found) return found;
        stack.pop();
      }
      return undefined;
    };
    const c = walk(start);
    if (c) return c;
  }
  return names;
}

/** The stages a set of targets needs: the targets and everything upstream of them. */
export function stagesFor(graph: StageGraph, targets: string[], pipeline: Pipeline): Result<Set<string>> {
  if (!targets.length || targets.includes('all')) return ok(new Set(graph.order.map((s) => s.name)));
  const unknown = targets.filter((t) => !pipeline.stageByName.has(t));
  if (unknown.length) {
    return fail(...unknown.map((t) => ({ message: `unknown target '${t}'${didYouMean(t, pipeline.stageByName.keys())}; targets are 'all' or stage names: ${[...pipeline.stageByName.keys()].join(', ')}` })));
  }
  const out = new Set<string>();
  const add = (n: string) => { if (out.has(n)) return; out.add(n); for (const d of graph.deps.get(n)!) add(d); };
  targets.forEach(add);
  return ok(out);
}

export function downstreamOf(graph: StageGraph, stage: string): Set<string> {
  const out = new Set<string>();
  const add = (n: string) => { for (const c of graph.consumers.get(n)!) if (!out.has(c)) { out.add(c); add(c); } };
  add(stage);
  return out;
}
