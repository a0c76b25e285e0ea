/**
 * Random kill -9 trials, shared by test/reliability.test.ts (a few dozen) and bench/reliability.ts
 * (hundreds). The lab: two synthetic SpikeGLX recordings and a pipeline of a built-in stage
 * (median_subtraction, which writes `*.partial` files and renames them) and two slow command
 * stages that write their outputs in place, piece by piece, one of them holding the machine's gpu
 * slot:
 *
 *   raw .ap.bin + probe_info.json -> median_subtraction -> continuous_ms.dat -> copy -> copy/copied.dat
 *                                                       -> residuals.dat     -> summary (gpu) -> summary/a.txt, b.txt
 *
 * A trial runs `ephys-make all -j 2` on a fresh copy of the lab, strikes at a random moment, then
 * runs it again to the end and holds the result against a clean reference run: every output byte
 * for byte as the reference's (no wrong or truncated output accepted), no process of the trial left
 * running, no `*.partial` left, and `-n` saying nothing to do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fakeStage, filesUnder, runCli, startCli, tempDir, waitUntil, isRunning } from './rig.js';
import { mulberry32 } from '../lib/numeric/mulberry32.js';

export interface Lab {
  /** A prepared lab folder (recordings, pipeline.yaml) that trials copy. */
  template: string;
  recordings: string[];
  /** Declared outputs relative to the lab folder, and their bytes after a clean run. */
  reference: Map<string, Buffer>;
  cleanMs: number;
  jobs: number;
}

export type Fault =
  | 'kill'            // kill -9 of ephys-make alone: its jobs run on as orphans
  | 'power-cut'       // ephys-make and every process of the lab die at once
  | 'spawn-window'    // killed after a job's process exists, before its pid is recorded
  | 'go-window'       // killed after the pid is recorded, before the job is let go
  | 'damaged-state';  // a kill, then one recording's state.json damaged

export const damages = ['emptied', 'truncated', 'garbage', 'deleted', 'a directory', 'unknown status'] as const;

export interface TrialResult {
  index: number;
  fault: Fault;
  detail: string;
  /** Outputs that differ from the reference: a wrong output accepted. */
  wrong: string[];
  /** Processes of the lab still running at the end. */
  orphans: number[];
  partials: string[];
  /** What went wrong otherwise (exit status, -n not clean), with the output to read. */
  problems: string[];
  ms: number;
}

const outputsOf = ['out/continuous_ms.dat', 'out/residuals.dat', 'out/copy/copied.dat', 'out/summary/a.txt', 'out/summary/b.txt'];

function pipelineYaml(): string {
  const fake = (label: string, ins: string[], outs: string[], chunks: number) => JSON.stringify(['node', fakeStage, '--log', '{root}/../calls.log', '--label', `{name}/${label}`,
    ...ins.flatMap((i) => ['--in', i]), ...outs.flatMap((o) => ['--out', o]), '--chunks', String(chunks), '--chunk-ms', '25']);
  return `version: 1
recordings:
  root: ./data
  match: "**/*.ap.bin"
  output: "{recording}/out"
  layout: auto
resources: { gpu: 1 }
params:
  directories: { extracted_data_directory: "{output}" }
  common_files: { probe_json: "{recording}/probe_info.json" }
  ephys_params: { ap_band_file: "{marker}" }
stages:
  median_subtraction:
    run: builtin
    inputs: ["{marker}", "{recording}/probe_info.json"]
    outputs: ["{output}/continuous_ms.dat", "{output}/residuals.dat"]
    params:
      median_subtraction_params: { output_file: "{output}/continuous_ms.dat", residuals_file: "{output}/residuals.dat" }
  copy:
    run: command
    command: ${fake('copy', ['{output}/continuous_ms.dat'], ['{output}/copy/copied.dat'], 8)}
    inputs: ["{output}/continuous_ms.dat"]
    outputs: ["{output}/copy/copied.dat"]
  summary:
    run: command
    command: ${fake('summary', ['{output}/residuals.dat'], ['{output}/summary/a.txt', '{output}/summary/b.txt'], 6)}
    inputs: ["{output}/residuals.dat"]
    outputs: ["{output}/summary/a.txt", "{output}/summary/b.txt"]
    resources: { gpu: 1 }
`;
}

/** Synthetic recordings (with the probe_info.json the real depth_estimation makes of them) and a reference run. */
export async function prepareLab(env: Record<string, string | undefined> = {}): Promise<Lab> {
  const template = tempDir('ephys-make-lab-');
  const data = path.join(template, 'data');
  const synth = await runCli(['synth', '--out', data, '--recordings', '2', '--seconds', '2', '--channels', '32', '--seed', '7'], { cwd: template, env });
  if (synth.code !== 0) throw new Error(`synth failed:\n${synth.stdout}${synth.stderr}`);
  // A recording is a folder holding an .ap.bin.
  const recordings = [...new Set(filesUnder(data).filter((f) => f.endsWith('.ap.bin')).map((f) => path.join('data', path.dirname(f))))].sort();
  // probe_info.json from the real stage, once; in the lab it is a recording's own file.
  const prep = tempDir('ephys-make-lab-prep-');
  fs.writeFileSync(path.join(prep, 'pipeline.yaml'), `version: 1
recordings: { root: ${JSON.stringify(data)}, match: "**/*.ap.bin", output: ${JSON.stringify(`${prep}/{name}`)}, layout: auto }
params:
  directories: { extracted_data_directory: "{output}" }
  ephys_params: { ap_band_file: "{marker}" }
stages:
  depth_estimation:
    run: builtin
    inputs: ["{marker}", "{lfp_band_file}"]
    outputs: ["{output}/probe_info.json"]
    params:
      common_files: { probe_json: "{output}/probe_info.json" }
      depth_estimation_params: { figure_location: "{output}/depth.png", n_passes: 1, skip_s_per_pass: 0, start_time: 0.2, time_interval: 1, channel_range: [24, 32], air_gap: 25 }
`);
  const made = await runCli(['all', '-j', '2'], { cwd: prep, env });
  if (made.code !== 0) throw new Error(`depth_estimation failed:\n${made.stdout}${made.stderr}`);
  for (const r of recordings) fs.copyFileSync(path.join(prep, path.relative('data', r), 'probe_info.json'), path.join(template, r, 'probe_info.json'));
  fs.writeFileSync(path.join(template, 'pipeline.yaml'), pipelineYaml());

  const ref = copyLab(template);
  const started = Date.now();
  const clean = await runCli(['all', '-j', '2'], { cwd: ref, env });
  const cleanMs = Date.now() - started;
  if (clean.code !== 0) throw new Error(`reference run failed:\n${clean.stdout}${clean.stderr}`);
  const reference = new Map<string, Buffer>();
  for (const r of recordings) for (const o of outputsOf) reference.set(path.join(r, o), fs.readFileSync(path.join(ref, r, o)));
  return { template, recordings, reference, cleanMs, jobs: recordings.length * 3 };
}

function copyLab(template: string): string {
  const dir = tempDir('ephys-make-trial-');
  fs.cpSync(template, dir, { recursive: true });
  return dir;
}

/** A small seeded generator, so a failing trial can be replayed from its seed. */
export const rngOf = mulberry32;

/** Live processes whose command line names the folder (the lab's jobs, launchers, ephys-makes). */
export function processesOf(dir: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmd: string;
    try { cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes(dir) && isRunning(Number(name))) out.push(Number(name));
  }
  return out;
}

function damage(file: string, how: typeof damages[number]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (how === 'deleted') { fs.rmSync(file, { force: true }); return; }
  if (how === 'a directory') { fs.rmSync(file, { force: true }); fs.mkdirSync(file); return; }
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (how === 'emptied') fs.writeFileSync(file, '');
  else if (how === 'truncated') fs.writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
  else if (how === 'garbage') fs.writeFileSync(file, Buffer.from([0x7b, 0x22, 0xff, 0x00, 0x13, 0x37]));
  else {
    try {
      const s = JSON.parse(text);
      for (const r of Object.values<any>(s.jobs)) r.status = 'zombie';
      fs.writeFileSync(file, JSON.stringify(s));
    } catch {
      fs.writeFileSync(file, '{"version":1,"jobs":{"median_subtraction":{"status":"zombie"}}}');
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runTrial(lab: Lab, index: number, rand: () => number, env: Record<string, string | undefined> = {}): Promise<TrialResult> {
  const started = Date.now();
  const dir = copyLab(lab.template);
  const faults: Fault[] = ['kill', 'kill', 'power-cut', 'power-cut', 'spawn-window', 'go-window', 'damaged-state', 'damaged-state'];
  const fault = faults[Math.floor(rand() * faults.length)];
  const problems: string[] = [];
  let detail = '';
  const holdFile = path.join(dir, 'hold.txt');
  const hold = fault === 'spawn-window' || fault === 'go-window';
  const skip = Math.floor(rand() * lab.jobs);
  const first = startCli(['all', '-j', '2'], {
    cwd: dir,
    env: hold ? { ...env, EPHYS_MAKE_FAULT_HOLD: fault === 'spawn-window' ? 'spawned' : 'recorded', EPHYS_MAKE_FAULT_SKIP: String(skip), EPHYS_MAKE_FAULT_FILE: holdFile } : env,
  });
  if (hold) {
    detail = `held at the start of job ${skip + 1}`;
    // The run may finish first when fewer jobs start than `skip` (the other recording's wait).
    await Promise.race([waitUntil(() => fs.existsSync(holdFile), 'the hold', 60_000).catch(() => {}), first.done]);
  } else {
    const at = Math.floor(rand() * lab.cleanMs * 1.1);
    detail = `at ${at} ms`;
    await Promise.race([sleep(at), first.done]);
  }
  if (hold && !fs.existsSync(holdFile)) detail += ' (the run ended first)';
  first.child.kill('SIGKILL');
  await first.done;
  if (fault === 'power-cut') for (const pid of processesOf(dir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (fault === 'damaged-state') {
    const how = damages[Math.floor(rand() * damages.length)];
    const rec = lab.recordings[Math.floor(rand() * lab.recordings.length)];
    damage(path.join(dir, rec, 'out', '.ephys-make', 'state.json'), how);
    detail += `, then state.json of ${path.basename(rec)} ${how}`;
  }
  const again = await runCli(['all', '-j', '2'], { cwd: dir, env });
  if (again.code !== 0) problems.push(`the run after the kill exited ${again.code}:\n${again.stdout}${again.stderr}`);
  const wrong: string[] = [];
  for (const [rel, bytes] of lab.reference) {
    const p = path.join(dir, rel);
    if (!fs.existsSync(p) || !fs.readFileSync(p).equals(bytes)) wrong.push(rel);
  }
  const n = await runCli(['-n'], { cwd: dir, env });
  if (!n.stdout.includes(`nothing to do: ${lab.jobs} jobs up to date`)) problems.push(`-n afterwards:\n${n.stdout}${n.stderr}`);
  const orphans = processesOf(dir);
  for (const pid of orphans) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  const partials = filesUnder(dir).filter((f) => f.endsWith('.partial'));
  const result: TrialResult = { index, fault, detail, wrong, orphans, partials, problems, ms: Date.now() - started };
  if (!wrong.length && !orphans.length && !partials.length && !problems.length) fs.rmSync(dir, { recursive: true, force: true });
  else result.problems.push(`(the trial's folder is kept: ${dir})`);
  return result;
}

export function describeTrial(r: TrialResult): string {
  const bad = [
    r.wrong.length ? `wrong outputs accepted: ${r.wrong.join(', ')}` : '',
    r.orphans.length ? `processes left running: ${r.orphans.join(', ')}` : '',
    r.partials.length ? `partials left: ${r.partials.join(', ')}` : '',
    ...r.problems,
  ].filter(Boolean);
  return `trial ${r.index} (${r.fault} ${r.detail}): ${bad.length ? bad.join('; ') : 'ok'}`;
}
