/** Projects for the SLURM tests: three fake stages a -> b -> c, and helpers to read records and SLURM. */
import fs from 'node:fs';
import path from 'node:path';
import { makeProject, fakeCommand, type Project } from './project.js';
import type { SlurmCluster } from './slurmCluster.js';

export interface StageOptions {
  /** Extra fake-stage arguments per stage (e.g. `--exit 3`, `--wait-for F`). */
  a?: string[]; b?: string[]; c?: string[];
  /** Extra YAML lines under stage b (indented four spaces). */
  bYaml?: string;
}

/** a reads the marker, b reads a, c reads b and its input JSON. */
export function threeStages(o: StageOptions = {}): string {
  return `
  a:
    run: command
    command: ${fakeCommand('{name}/a', ['{marker}'], ['{output}/a.out'], o.a)}
    inputs: ["{marker}"]
    outputs: ["{output}/a.out"]
  b:
    run: command
    command: ${fakeCommand('{name}/b', ['{output}/a.out'], ['{output}/b.out'], o.b)}
    inputs: ["{output}/a.out"]
    outputs: ["{output}/b.out"]
${o.bYaml ?? ''}  c:
    run: command
    command: ${fakeCommand('{name}/c', ['{output}/b.out', '{input_json}'], ['{output}/c.out'], o.c)}
    inputs: ["{output}/b.out"]
    outputs: ["{output}/c.out"]
    params:
      c_params: { threshold: 4 }
`;
}

export function slurmProject(recordings: string[], o: StageOptions & { head?: string } = {}): Project {
  return makeProject({ recordings, stages: threeStages(o), head: o.head ?? 'resources: { gpu: 1 }' });
}

export function records(p: Project, rec: string): Record<string, any> {
  try {
    return JSON.parse(fs.readFileSync(path.join(p.rec(rec), '.ephys-make', 'state.json'), 'utf8')).jobs;
  } catch {
    return {};
  }
}

/** SLURM job ids of `submit` lines, by "recording stage". */
export function submittedIds(output: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of output.matchAll(/^submit (.+) (\w+) \(.*\): SLURM job (\d+)/gm)) out.set(`${m[1]} ${m[2]}`, m[3]);
  return out;
}

export function slurmState(cluster: SlurmCluster, id: string): { state: string; reason: string; tres: string } {
  const line = cluster.run('squeue', ['--noheader', '--states=all', `--jobs=${id}`, '--format=%T|%r|%b']).trim();
  const [state, reason, tres] = line.split('|');
  return { state, reason, tres };
}

/** Poll until `check` returns a value (not undefined); fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
