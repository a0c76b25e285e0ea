/**
 * bench/noop: how long deciding that nothing needs doing takes, against `make -q` on an equivalent
 * Makefile, measured in the same run: with the up-to-date index (the usual no-op) and with every
 * record read (the first run after a change everywhere). Then planning 10,000 recordings: built
 * (outputs made elsewhere and adopted), and with nothing run yet; peak memory at 1,000 and 10,000.
 * Targets: no-op <= 1.0x make -q; 10,000 recordings planned < 1 s; memory no faster than linear.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(here, '..', '..', 'bin', 'ephys-make.js');
const stages = 8;

/** A lab of `recordings` x 8 `cp` stages and the equivalent Makefile; `built`: every output written, oldest first. */
function makeLab(dir: string, recordings: number, built = false): void {
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
    if (built) for (let s = 0; s < stages; s++) fs.writeFileSync(path.join(rec, `s${s}.out`), `recording ${r}\n`);
    mk += ` ${rec}/s${stages - 1}.out`;
    for (let s = 0; s < stages; s++) rules.push(`${rec}/s${s}.out: ${s === 0 ? `${rec}/probe.ap.bin` : `${rec}/s${s - 1}.out`}\n\tcp $< $@`);
  }
  fs.writeFileSync(path.join(dir, 'Makefile'), `${mk}\n${rules.join('\n')}\n`);
}

/** Records older than the up-to-date index's two seconds, then one run that finds them so and writes the index. */
function settle(lab: string): void {
  spawnSync('sleep', ['2.1']);
  const r = spawnSync(process.execPath, [bin, 'all'], { cwd: lab, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('no-op run failed');
}

const indexFile = (lab: string) => path.join(lab, '.ephys-make', 'up-to-date.json');

/** A no-op that reads every record: what the first run after a change to every recording costs. */
function timeFullPlans(lab: string, args: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    fs.rmSync(indexFile(lab), { force: true });
    times.push(timeRuns(process.execPath, [bin, ...args], lab, 1));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
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
  settle(lab);
  const ours = timeRuns(process.execPath, [bin, 'all'], lab, 5);
  const make = timeRuns('make', ['-q', 'all'], lab, 5);
  const makeR = timeRuns('make', ['-r', '-q', 'all'], lab, 5);
  const full = timeFullPlans(lab, ['all'], 3);
  settle(lab);
  console.log(`no-op, 1000 recordings x ${stages} stages (median of 5):`);
  console.log(`  ephys-make all   ${ours.toFixed(0)} ms   (recordings unchanged since found up to date: the index)`);
  console.log(`  make -q          ${make.toFixed(0)} ms   ratio ${(ours / make).toFixed(2)}x (target <= 1.0x)`);
  console.log(`  make -r -q       ${makeR.toFixed(0)} ms   ratio ${(ours / makeR).toFixed(2)}x (no implicit rules: make's best case)`);
  console.log(`  every record read (no index; median of 3): ${full.toFixed(0)} ms   ratio ${(full / make).toFixed(2)}x make -q`);

  const mem1 = peak(['-n'], lab);
  const lab10 = path.join(base, 'lab10000');
  fs.mkdirSync(lab10);
  makeLab(lab10, 10000);
  const cold = peak(['-n'], lab10);
  const built = path.join(base, 'built10000');
  fs.mkdirSync(built);
  makeLab(built, 10000, true);
  t = process.hrtime.bigint();
  // Outputs made without ephys-make: adopted (a record written per recording), nothing run.
  const adopt = spawnSync(process.execPath, [bin, 'all'], { cwd: built, stdio: ['ignore', 'ignore', 'inherit'] });
  if (adopt.status !== 0) throw new Error('adoption run failed');
  console.log(`10,000 recordings with outputs made elsewhere adopted in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s`);
  const readAll = timeFullPlans(built, ['-n'], 3);
  settle(built);
  const planned = timeRuns(process.execPath, [bin, '-n'], built, 3);
  const mem10 = peak(['-n'], built);
  const make10 = timeRuns('make', ['-q', 'all'], built, 3);
  console.log(`planning with -n (median of 3):`);
  console.log(`  1,000 recordings, nothing changed:   peak ${(mem1.kb / 1024).toFixed(0)} MiB`);
  console.log(`  10,000 recordings, nothing changed:  ${planned.toFixed(0)} ms (target < 1000), peak ${(mem10.kb / 1024).toFixed(0)} MiB; make -q ${make10.toFixed(0)} ms, ratio ${(planned / make10).toFixed(2)}x`);
  console.log(`  10,000 recordings, every record read (no index): ${readAll.toFixed(0)} ms`);
  console.log(`  10,000 recordings, nothing run yet:  ${cold.ms.toFixed(0)} ms, peak ${(cold.kb / 1024).toFixed(0)} MiB`);
  console.log(`  memory growth 10x recordings -> ${(mem10.kb / mem1.kb).toFixed(1)}x peak (linear or better: <= 10x)`);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
