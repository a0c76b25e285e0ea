/**
 * bench/slurm: 100 recordings x 3 trivial stages (`cp`) on a one-node SLURM cluster started for the
 * run (root, Debian's slurmctld/slurmd/munge). Targets:
 *   - submitting the 300 jobs (`ephys-make all --executor slurm`, process start to exit) < 3 s;
 *   - `ephys-make status` with the 300 jobs queued (it asks SLURM about each and settles records) < 1 s;
 *   - wall time of `all --executor slurm --wait` against the same DAG written by hand as a bash
 *     script of sbatch calls with afterok dependencies, followed by polling squeue: ratio <= 1.1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { slurmMissing, startCluster, type SlurmCluster } from '../test/slurmCluster.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(here, '..', '..', 'bin', 'ephys-make.js');
const recordings = 100;
const stages = 3;

function makeLab(dir: string): string[] {
  const stageYaml: string[] = [];
  for (let s = 0; s < stages; s++) {
    const input = s === 0 ? '{marker}' : `{output}/s${s - 1}.out`;
    stageYaml.push(`  s${s}:\n    run: command\n    command: ["cp", "${input}", "{output}/s${s}.out"]\n    inputs: ["${input}"]\n    outputs: ["{output}/s${s}.out"]`);
  }
  fs.writeFileSync(path.join(dir, 'pipeline.yaml'), `version: 1\nrecordings:\n  root: ./data\n  match: "**/*.ap.bin"\nexecutor: slurm\nstages:\n${stageYaml.join('\n')}\n`);
  const recs: string[] = [];
  for (let r = 0; r < recordings; r++) {
    const rec = path.join(dir, 'data', `mouse${r % 10}`, `session${r}`);
    fs.mkdirSync(rec, { recursive: true });
    fs.writeFileSync(path.join(rec, 'probe.ap.bin'), `recording ${r}\n`);
    recs.push(rec);
  }
  return recs;
}

/** The lab's script by hand: one sbatch per job, each after its upstream job, logs beside the outputs. */
function handScript(dir: string, recs: string[], script: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ['#!/bin/bash', 'set -e'];
  recs.forEach((rec, r) => {
    for (let s = 0; s < stages; s++) {
      const input = s === 0 ? path.join(rec, 'probe.ap.bin') : path.join(rec, `s${s - 1}.out`);
      const dep = s === 0 ? '' : ` --dependency=afterok:$j${r}_${s - 1} --kill-on-invalid-dep=yes`;
      lines.push(`j${r}_${s}=$(sbatch --parsable -J ${q(`session${r}:s${s}`)} --output=${q(path.join(rec, `s${s}.log`))}${dep} ${q(script)} cp ${q(input)} ${q(path.join(rec, `s${s}.out`))})`);
      lines.push(`echo $j${r}_${s}`);
    }
  });
  const file = path.join(dir, 'submit.sh');
  fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o755 });
  return file;
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function run(cluster: SlurmCluster, argv: string[], cwd: string): { out: string; s: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { cwd, env: { ...process.env, ...cluster.env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const s = seconds(t0);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout.slice(-2000)}`);
  return { out: r.stdout, s };
}

/** Poll squeue until none of these jobs is pending or running (the hand-written way to wait). */
async function waitForJobs(cluster: SlurmCluster, ids: string[], pollMs: number): Promise<void> {
  for (;;) {
    const r = spawnSync('squeue', ['--noheader', `--jobs=${ids.join(',')}`, '--states=PENDING,RUNNING,CONFIGURING,COMPLETING', '--format=%i'], { env: { ...process.env, ...cluster.env }, encoding: 'utf8' });
    if (r.status === 0 && !r.stdout.trim()) return;
    await new Promise((res) => setTimeout(res, pollMs));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const missing = slurmMissing();
if (missing) {
  console.log(`skipped: ${missing}`);
  process.exit(0);
}
// The node declares the machine's own CPUs, as a real one does (the tests declare more for speed).
const cluster = await startCluster({ cpus: os.availableParallelism() });
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-slurm-'));
const script = path.join(base, 'job.sh');
fs.writeFileSync(script, '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
try {
  console.log(`one-node cluster: ${cluster.cpus} CPUs declared on a ${os.availableParallelism()}-core machine, load average ${os.loadavg()[0].toFixed(1)} at start`);
  // 1. Submission and status with every job queued: the node is drained, so nothing starts.
  const held = path.join(base, 'held');
  fs.mkdirSync(held);
  makeLab(held);
  cluster.run('scontrol', ['update', `nodename=${cluster.host}`, 'state=drain', 'reason=bench']);
  const submit = run(cluster, [process.execPath, bin, 'all'], held);
  const submitted = (submit.out.match(/^submit /gm) ?? []).length;
  if (submitted !== recordings * stages) throw new Error(`expected ${recordings * stages} submissions:\n${submit.out.slice(-2000)}`);
  const statusTimes = [0, 1, 2].map(() => run(cluster, [process.execPath, bin, 'status'], held).s);
  const statusOut = run(cluster, [process.execPath, bin, 'status'], held).out;
  if (!statusOut.includes(`${recordings} recordings: ${recordings * stages} queued`)) throw new Error(`status did not see the queued jobs:\n${statusOut.slice(-500)}`);
  const squeueTime = median([0, 1, 2].map(() => run(cluster, ['squeue', '--noheader', '--states=all', '--format=%i|%T|%r|%N'], held).s));
  console.log(`submission of ${submitted} jobs (ephys-make all, start to exit): ${submit.s.toFixed(2)} s (target < 3 s)`);
  console.log(`status with ${submitted} jobs queued (median of 3): ${median(statusTimes).toFixed(2)} s (target < 1 s); one squeue of them alone: ${squeueTime.toFixed(2)} s`);
  run(cluster, [process.execPath, bin, 'cancel'], held);
  cluster.run('scontrol', ['update', `nodename=${cluster.host}`, 'state=resume']);

  // 2. Wall time, submission to the last job's end: by hand, then ephys-make (each on a fresh lab).
  const handLab = path.join(base, 'hand');
  fs.mkdirSync(handLab);
  const handRecs = makeLab(handLab);
  const t0 = process.hrtime.bigint();
  const hand = run(cluster, ['bash', handScript(handLab, handRecs, script)], handLab);
  const ids = hand.out.trim().split('\n');
  await waitForJobs(cluster, ids, 500);
  const handWall = seconds(t0);
  const failedHand = handRecs.filter((r) => !fs.existsSync(path.join(r, `s${stages - 1}.out`))).length;
  if (failedHand) throw new Error(`${failedHand} hand-written chains did not finish`);
  const oursLab = path.join(base, 'ours');
  fs.mkdirSync(oursLab);
  makeLab(oursLab);
  const ours = run(cluster, [process.execPath, bin, 'all', '--wait'], oursLab);
  if (!ours.out.includes(`${recordings * stages} jobs done, 0 failed`)) throw new Error(`ephys-make --wait did not finish every job:\n${ours.out.slice(-2000)}`);
  console.log(`wall time, ${recordings} recordings x ${stages} stages, submission to the last job's end:`);
  console.log(`  sbatch script by hand + squeue polling  ${handWall.toFixed(1)} s (${((recordings * stages) / handWall).toFixed(1)} jobs/s; its ${ids.length} sbatch calls alone ${hand.s.toFixed(2)} s)`);
  console.log(`  ephys-make all --executor slurm --wait  ${ours.s.toFixed(1)} s   ratio ${(ours.s / handWall).toFixed(2)}x (target <= 1.1x)`);
  console.log(`submission against the hand script's sbatch calls: ${submit.s.toFixed(2)} s / ${hand.s.toFixed(2)} s = ${(submit.s / hand.s).toFixed(2)}x`);
  console.log(`load average at the end: ${os.loadavg()[0].toFixed(1)} (numbers taken on a busy machine are noisy)`);
} finally {
  cluster.stop();
  fs.rmSync(base, { recursive: true, force: true });
}
