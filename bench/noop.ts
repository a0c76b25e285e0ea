/**
 * bench/noop: how long deciding that nothing needs doing takes, against `make -q` on an equivalent
 * Makefile, measured in the same run. Then peak memory and planning time at 1,000 and 10,000
 * recordings (targets: no-op <= 1.0x make -q; memory no faster than linear; 10,000 planned < 1 s).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(here, '..', '..', 'bin', 'ephys-make.js');
const stages = 8;

function makeLab(dir: string, recordings: number): void {
  const stageYaml: string[] = [];
  for (let s = 0; s < stages; s++) {
    const input = s === 0 ? '{marker}' : `{output}/s${s - 1}.out`;
    stageYaml.push(`  s${s}:\n    run: command\n    command: ["cp", "${input}", "{output}/s${s}.out"]\n    inputs: ["${input}"]\n    outputs: ["{output}/s${s}.out"]\n    params: { s${s}_params: { threshold: ${s} } }`);
  }
  fs.writeFileSync(path.join(dir, 'pipeline.yaml'), `version: 1\nrecordings:\n  root: ./data\n  match: "**/*.ap.bin"\nparams:\n  ephys_params: { sample_rate: 30000, num_channels: 384 }\nstages:\n${stageYaml.join('\n')}\n`);
  let mk = `all:`;
  const rules: string[] = [];
  for (let r = 0; r < recordings; r++) {
    const rec = path.join(dir, 'data', `mouse${r % 50}`, `session${r}`);
    fs.mkdirSync(rec, { recursive: true });
    fs.writeFileSync(path.join(rec, 'probe.ap.bin'), `recording ${r}\n`);
    mk += ` ${rec}/s${stages - 1}.out`;
    for (let s = 0; s < stages; s++) rules.push(`${rec}/s${s}.out: ${s === 0 ? `${rec}/probe.ap.bin` : `${rec}/s${s - 1}.out`}\n\tcp $< $@`);
  }
  fs.writeFileSync(path.join(dir, 'Makefile'), `${mk}\n${rules.join('\n')}\n`);
}

function timeRuns(cmd: string, args: string[], cwd: string, runs: number, expectStatus = 0): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.status !== expectStatus) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function peak(args: string[], cwd: string): { kb: number; ms: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, bin, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const kb = Number(r.stderr.toString().trim().split('\n').pop());
  return { kb, ms };
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-noop-'));
try {
  const lab = path.join(base, 'lab1000');
  fs.mkdirSync(lab);
  makeLab(lab, 1000);
  let t = process.hrtime.bigint();
  const first = spawnSync(process.execPath, [bin, 'all', '-j', String(Math.max(2, os.availableParallelism() * 2))], { cwd: lab, stdio: ['ignore', 'ignore', 'inherit'] });
  const firstS = Number(process.hrtime.bigint() - t) / 1e9;
  if (first.status !== 0) throw new Error('first run failed');
  console.log(`first run: 1000 recordings x ${stages} stages = ${1000 * stages} jobs in ${firstS.toFixed(1)} s (${((1000 * stages) / firstS).toFixed(0)} jobs/s)`);
  const ours = timeRuns(process.execPath, [bin, 'all'], lab, 5);
  const make = timeRuns('make', ['-q', 'all'], lab, 5);
  const makeR = timeRuns('make', ['-r', '-q', 'all'], lab, 5);
  console.log(`no-op, 1000 recordings x ${stages} stages (median of 5):`);
  console.log(`  ephys-make all   ${ours.toFixed(0)} ms`);
  console.log(`  make -q          ${make.toFixed(0)} ms   ratio ${(ours / make).toFixed(2)}x (target <= 1.0x)`);
  console.log(`  make -r -q       ${makeR.toFixed(0)} ms   ratio ${(ours / makeR).toFixed(2)}x (no implicit rules: make's best case)`);

  const mem1 = peak(['-n'], lab);
  const lab10 = path.join(base, 'lab10000');
  fs.mkdirSync(lab10);
  makeLab(lab10, 10000);
  const mem10 = peak(['-n'], lab10);
  console.log(`planning (-n, nothing run yet for 10,000):`);
  console.log(`  1,000 recordings:  ${mem1.ms.toFixed(0)} ms, peak ${(mem1.kb / 1024).toFixed(0)} MiB`);
  console.log(`  10,000 recordings: ${mem10.ms.toFixed(0)} ms (target < 1000), peak ${(mem10.kb / 1024).toFixed(0)} MiB`);
  console.log(`  memory growth 10x recordings -> ${(mem10.kb / mem1.kb).toFixed(1)}x peak (linear or better: <= 10x)`);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
