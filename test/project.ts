/** A small lab on disk for end-to-end tests: recordings under data/, a pipeline of fake stages. */
import fs from 'node:fs';
import path from 'node:path';
import { fakeStage, readStageLog, runCli, startCli, tempDir, writeFile, type CliOptions } from './rig.js';

export interface Project {
  dir: string;
  root: string;
  log: string;
  rec(name: string): string;
  run(args: string[], opts?: CliOptions): ReturnType<typeof runCli>;
  start(args: string[], opts?: CliOptions): ReturnType<typeof startCli>;
  calls(): ReturnType<typeof readStageLog>;
  starts(label?: string): number;
}

/** A stage line for pipeline.yaml running the fake stage; `extra` adds fake-stage arguments. */
export function fakeCommand(label: string, ins: string[], outs: string[], extra: string[] = []): string {
  const args = ['node', fakeStage, '--log', '{root}/../calls.log', '--label', label,
    ...ins.flatMap((i) => ['--in', i]), ...outs.flatMap((o) => ['--out', o]), ...extra];
  return JSON.stringify(args);
}

/** The standard four stages: a -> b -> c, and d reading a. */
export function fourStages(opts: { bResources?: string; cExtra?: string[]; bExtra?: string[] } = {}): string {
  return `
  a:
    run: command
    command: ${fakeCommand('{name}/a', ['{marker}'], ['{output}/a.out'])}
    inputs: ["{marker}"]
    outputs: ["{output}/a.out"]
  b:
    run: command
    command: ${fakeCommand('{name}/b', ['{output}/a.out'], ['{output}/b.out'], opts.bExtra)}
    inputs: ["{output}/a.out"]
    outputs: ["{output}/b.out"]${opts.bResources ? `\n    resources: ${opts.bResources}` : ''}
  c:
    run: command
    command: ${fakeCommand('{name}/c', ['{output}/b.out', '{input_json}'], ['{output}/c.out'], opts.cExtra)}
    inputs: ["{output}/b.out"]
    outputs: ["{output}/c.out"]
    params:
      c_params: { threshold: 4 }
  d:
    run: command
    command: ${fakeCommand('{name}/d', ['{output}/a.out'], ['{output}/d.out'])}
    inputs: ["{output}/a.out"]
    outputs: ["{output}/d.out"]
`;
}

export function makeProject(opts: { recordings?: string[]; stages?: string; head?: string; dir?: string } = {}): Project {
  const dir = opts.dir ?? tempDir();
  const root = path.join(dir, 'data');
  fs.mkdirSync(root, { recursive: true });
  for (const r of opts.recordings ?? ['rec1', 'rec2', 'rec3']) writeFile(root, `${r}/probe.ap.bin`, `raw data of ${r}\n`);
  const yaml = `version: 1
recordings:
  root: ./data
  match: "**/*.ap.bin"
${opts.head ?? 'resources: { gpu: 1 }\nparams:\n  shared: { sample_rate: 30000 }'}
stages:${opts.stages ?? fourStages()}`;
  writeFile(dir, 'pipeline.yaml', yaml);
  const log = path.join(dir, 'calls.log');
  return {
    dir, root, log,
    rec: (name) => path.join(root, name),
    run: (args, o = {}) => runCli(args, { cwd: dir, ...o }),
    start: (args, o = {}) => startCli(args, { cwd: dir, ...o }),
    calls: () => readStageLog(log),
    starts: (label?: string) => readStageLog(log).filter((l) => l.event === 'start' && (!label || l.label === label)).length,
  };
}
