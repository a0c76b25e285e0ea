/**
 * `node dist/bench/watch.js [RECORDINGS] [SETTLE_SECONDS]`: `ephys-make watch` on a root holding
 * RECORDINGS (default 1,000) processed recordings, measuring
 *   - the initial scan: from start to the "watching" line (every recording planned, all up to date);
 *   - CPU of the watch process while idle after it, from /proc/PID/stat over 20 s
 *     (target: under 1% of a core);
 *   - latency from a new recording becoming ready to its first job starting, by the settle rule
 *     (ready = its last write + settle_seconds) and by the `when` rule (ready = its .meta appears)
 *     (target: under 2 s).
 * Stages are the test suite's fake stage, so the numbers are the watcher's, not a sorter's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuTicks } from './_procStat.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const bin = path.join(repoRoot, 'bin', 'ephys-make.js');
const fakeStage = path.join(repoRoot, 'test', 'fixtures', 'fake-stage.mjs');
const recordings = Number(process.argv[2] ?? 1000);
const settleSeconds = Number(process.argv[3] ?? 1);
const idleSeconds = 20;
const trials = 5;
const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stage(name: string, input: string): string {
  const argv = ['node', fakeStage, '--log', '{root}/../calls.log', '--label', `{name}/${name}`, '--in', input, '--out', `{output}/${name}.out`];
  return `  ${name}:\n    run: command\n    command: ${JSON.stringify(argv)}\n    inputs: ["${input}"]\n    outputs: ["{output}/${name}.out"]\n`;
}

function makeLab(dir: string): string {
  const root = path.join(dir, 'data');
  fs.writeFileSync(path.join(dir, 'pipeline.yaml'), `version: 1
recordings:
  root: ./data
  match: "**/*.ap.bin"
  layout: none
  ready: { settle_seconds: ${settleSeconds}, when: "*.ap.meta" }
stages:
${stage('a', '{marker}')}${stage('b', '{output}/a.out')}${stage('c', '{output}/b.out')}${stage('d', '{output}/a.out')}`);
  // Processed before ephys-make kept records: outputs newer than inputs, taken over by adoption.
  const old = Date.now() / 1000 - 3600;
  for (let i = 0; i < recordings; i++) {
    const rec = path.join(root, `mouse${String(i % 40).padStart(2, '0')}`, `session${i}_g0`);
    fs.mkdirSync(rec, { recursive: true });
    fs.writeFileSync(path.join(rec, 'probe.ap.bin'), `raw ${i}\n`);
    fs.utimesSync(path.join(rec, 'probe.ap.bin'), old, old);
    for (const s of ['a', 'b', 'c', 'd']) {
      fs.writeFileSync(path.join(rec, `${s}.out`), `${s}\n`);
      fs.utimesSync(path.join(rec, `${s}.out`), old + 60, old + 60);
    }
  }
  return root;
}


function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function firstStart(callsLog: string, label: string): number | undefined {
  if (!fs.existsSync(callsLog)) return undefined;
  for (const line of fs.readFileSync(callsLog, 'utf8').split('\n')) {
    const [event, l, , ms] = line.split(' ');
    if (event === 'start' && decodeURIComponent(l ?? '') === label) return Number(ms);
  }
  return undefined;
}

async function waitFor<T>(get: () => T | undefined, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-watch-'));
  try {
    const t0 = Date.now();
    const root = makeLab(dir);
    console.log(`${recordings} recordings (4 stages each, all processed) made in ${((Date.now() - t0) / 1000).toFixed(1)} s; settle_seconds ${settleSeconds}`);
    const env = { ...process.env, EPHYS_MAKE_POOL_DIR: path.join(dir, 'pools') };
    // The first start adopts the existing outputs (a record per job); measure the watch after that.
    const t1 = Date.now();
    const adopt = spawnSync(process.execPath, [bin, 'watch', '--once'], { cwd: dir, env, encoding: 'utf8' });
    if (adopt.status !== 0) throw new Error(`watch --once failed:\n${adopt.stdout}${adopt.stderr}`);
    console.log(`first start (watch --once, adopting ${recordings * 4} jobs' outputs): ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    const started = Date.now();
    const child = spawn(process.execPath, [bin, 'watch', '-j', '2'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    await waitFor(() => (/^watching /m.test(output) ? true : undefined), 'the watch to start', 120_000);
    const scanSeconds = (Date.now() - started) / 1000;
    const scanCpu = cpuTicks(child.pid!) / ticksPerSecond;
    console.log(`initial scan: ${scanSeconds.toFixed(2)} s to "watching" (${scanCpu.toFixed(2)} s of CPU), ${rssMB(child.pid!).toFixed(0)} MB resident`);

    await sleep(2000);
    const before = cpuTicks(child.pid!);
    await sleep(idleSeconds * 1000);
    const idlePercent = ((cpuTicks(child.pid!) - before) / ticksPerSecond / idleSeconds) * 100;
    console.log(`idle: ${idlePercent.toFixed(2)}% of a core over ${idleSeconds} s (target < 1%)  ${idlePercent < 1 ? 'ok' : 'OVER TARGET'}`);

    const calls = path.join(dir, 'calls.log');
    const settleLatency: number[] = [];
    for (let k = 0; k < trials; k++) {
      const marker = path.join(root, 'new', `settle${k}`, 'probe.ap.bin');
      fs.mkdirSync(path.dirname(marker), { recursive: true });
      for (let chunk = 0; chunk < 3; chunk++) {
        fs.appendFileSync(marker, `samples ${chunk}\n`.repeat(10_000));
        if (chunk < 2) await sleep(200);
      }
      const ready = Date.now() + settleSeconds * 1000;
      const start = await waitFor(() => firstStart(calls, `new/settle${k}/a`), `new/settle${k} to start`);
      settleLatency.push((start - ready) / 1000);
    }
    const whenLatency: number[] = [];
    for (let k = 0; k < trials; k++) {
      const rec = path.join(root, 'new', `when${k}`);
      fs.mkdirSync(rec, { recursive: true });
      // As at the rig: the data is being written (the watch waits for it), then the .meta closes it.
      fs.writeFileSync(path.join(rec, 'probe.ap.bin'), 'samples\n');
      await sleep(300);
      fs.writeFileSync(path.join(rec, 'probe.ap.meta'), 'fileSizeBytes=8\n');
      const ready = Date.now();
      const start = await waitFor(() => firstStart(calls, `new/when${k}/a`), `new/when${k} to start`);
      whenLatency.push((start - ready) / 1000);
    }
    const show = (xs: number[]) => `median ${median(xs).toFixed(2)} s, max ${Math.max(...xs).toFixed(2)} s`;
    const ok = (xs: number[]) => (Math.max(...xs) < 2 ? 'ok' : 'OVER TARGET');
    console.log(`ready -> first job, settle rule (after the last write + ${settleSeconds} s): ${show(settleLatency)} (target < 2 s)  ${ok(settleLatency)}`);
    console.log(`ready -> first job, when rule (after the .meta appears): ${show(whenLatency)} (target < 2 s)  ${ok(whenLatency)}`);

    child.kill('SIGINT');
    await new Promise((r) => child.on('close', r));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
