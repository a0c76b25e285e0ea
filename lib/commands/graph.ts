/** `ephys-make graph`: the stage graph as DOT (default) or Mermaid, edges labelled by the file between. */
import path from 'node:path';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { openPlanner } from '../engine/planner.js';
import { normaliseTemplate } from '../engine/graph.js';

export function graph(o: CliOptions, io: Io): number {
  const opened = openPlanner(engineOptions(o, io));
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const { pipeline, graph: g, stageNames, stages } = opened.value;
  const edges: Array<{ from: string; to: string; label: string }> = [];
  for (const s of stages) {
    const byDep = new Map<string, string[]>();
    for (const f of s.inputs) {
      const p = g.producerOf.get(normaliseTemplate(f.path));
      if (p && p !== s.name) byDep.set(p, [...(byDep.get(p) ?? []), path.posix.basename(f.path)]);
    }
    for (const a of s.after) if (!byDep.has(a)) byDep.set(a, ['after']);
    for (const [from, files] of byDep) if (stageNames.has(from)) edges.push({ from, to: s.name, label: files.length > 2 ? `${files.slice(0, 2).join(', ')} +${files.length - 2}` : files.join(', ') });
  }
  const runnerOf = (n: string) => pipeline.stageByName.get(n)!.run;
  if (o.mermaid) {
    io.out('flowchart TD\n');
    for (const s of stages) io.out(`  ${s.name}["${s.name}<br/><small>${runnerOf(s.name)}</small>"]\n`);
    for (const e of edges) io.out(`  ${e.from} -->|"${e.label}"| ${e.to}\n`);
  } else {
    io.out('digraph pipeline {\n  rankdir=TB;\n  node [shape=box];\n');
    for (const s of stages) io.out(`  "${s.name}" [label="${s.name}\\n(${runnerOf(s.name)})"${Object.keys(s.resources).length ? ', style=bold' : ''}];\n`);
    for (const e of edges) io.out(`  "${e.from}" -> "${e.to}" [label="${e.label.replace(/"/g, '\\"')}"];\n`);
    io.out('}\n');
  }
  return 0;
}
