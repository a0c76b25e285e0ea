/**
 * `ephys-make init [DATA_DIR] [--python PY] [-o FILE]`: find the recordings under DATA_DIR, say
 * what they are, and write a pipeline.yaml for them (initPipeline.ts) that plans as it is; then
 * say what is left to set. Never writes over a file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { formatDiagnostic } from '../base/diagnostic.js';
import { packageRoot } from '../base/paths.js';
import { interpreterArgv } from '../engine/runners/argv.js';
import { formatBytes } from '../base/signature.js';
import { invocation, shellWord } from './invocation.js';
import { findProgram } from './findProgram.js';
import { openEphysMatch, scanForRecordings, type FoundRecording } from './initScan.js';
import { makePipeline, type PipelineChoices } from './initPipeline.js';

interface PythonFound { python: string; sorter: PipelineChoices['sorter'] }

/** Runs `code` with the interpreter: did it exit 0, what it printed, and if it failed, its last words. */
function runPython(python: string, code: string, env: NodeJS.ProcessEnv): { ok: boolean; out: string; why: string } {
  const argv = interpreterArgv(python);
  const r = spawnSync(argv[0], [...argv.slice(1), '-c', code], { env, encoding: 'utf8', timeout: 60_000 });
  const why = r.error ? (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : r.error.message : (r.stderr ?? '').trim().split('\n').pop() ?? `exit status ${r.status}`;
  return { ok: r.status === 0, out: (r.stdout ?? '').trim(), why };
}

const importCheck = 'import ecephys_spike_sorting';
/** Prints whether torch sees a CUDA device. */
const kilosortCheck = 'import kilosort, torch; print(torch.cuda.is_available())';


/** The interpreters worth trying when none is given: an active venv or conda env, then PATH's. */
function pythonCandidates(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  if (env.VIRTUAL_ENV) out.push(path.join(env.VIRTUAL_ENV, 'bin', 'python'));
  if (env.CONDA_PREFIX) out.push(path.join(env.CONDA_PREFIX, 'bin', 'python'));
  out.push('python3', 'python');
  return [...new Set(out)];
}

function secondsText(s: number | undefined): string {
  if (s === undefined) return '?';
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

function rateText(hz: number | undefined): string {
  return hz === undefined ? '?' : `${Number(hz.toFixed(3))} Hz`;
}

function channelText(r: FoundRecording): string {
  if (r.channels === undefined) return '?';
  const extra = r.channels - (r.apChannels ?? r.channels);
  return extra > 0 ? `${r.channels} (${r.apChannels} AP + ${extra} sync)` : `${r.channels}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n').join('');
}

export async function init(o: CliOptions, io: Io): Promise<number> {
  if (o.targets.length > 1) { io.err(`ephys-make init: one data folder, got ${o.targets.length}: ${o.targets.join(' ')}\n`); return 2; }
  const prog = invocation(io);
  const dataDir = path.resolve(io.cwd, o.targets[0] ?? '.');
  const out = path.resolve(io.cwd, o.out ?? o.file ?? 'pipeline.yaml');
  const shownOut = path.relative(io.cwd, out) || out;
  if (fs.existsSync(out)) {
    io.err(`ephys-make init: ${shownOut} already exists; nothing written (write the new pipeline elsewhere with -o FILE, or move that one away first)\n`);
    return 2;
  }
  if (!fs.statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
    io.err(`ephys-make init: ${o.targets[0] ?? '.'}: no such folder\n`);
    return 2;
  }
  const shownData = path.relative(io.cwd, dataDir) || '.';
  const found = scanForRecordings(dataDir, io.cwd);
  const all = [...found.spikeglx, ...found.openephys];
  if (!all.length) {
    io.err(`ephys-make init: no recordings under ${shownData}: looked for SpikeGLX probe folders (**/*.ap.bin) and Open Ephys recordings (**/continuous/Neuropix-*/continuous.dat)\n`
      + `  to start before the first recording, copy the shipped pipeline and set recordings.root: cp ${shellWord(path.join(packageRoot, 'pipeline.yaml'))} ${shellWord(shownOut)}\n`);
    return 2;
  }

  // One pipeline has one recording pattern: it takes the layout with more recordings.
  const layout = found.spikeglx.length >= found.openephys.length ? 'spikeglx' : 'openephys';
  const recs = layout === 'spikeglx' ? found.spikeglx : found.openephys;
  const others = layout === 'spikeglx' ? found.openephys : found.spikeglx;
  const name = (r: FoundRecording) => path.relative(dataDir, r.dir).split(path.sep).join('/') || '.';
  const rows = [['recording', 'probe', 'channels', 'sample rate', 'length', 'LFP band']];
  for (const r of recs) {
    rows.push([name(r), r.probe ? `${r.probe}${r.partNumber ? ` (${r.partNumber})` : ''}` : '?', channelText(r), rateText(r.sampleRateHz), secondsText(r.seconds), r.lfp ?? (r.isNp2 ? 'none (wide band)' : r.probe ? 'none' : '?')]);
  }
  const bytes = recs.reduce((s, r) => s + (fs.statSync(r.marker, { throwIfNoEntry: false })?.size ?? 0), 0);
  io.out(`found ${recs.length} ${layout === 'spikeglx' ? 'SpikeGLX' : 'Open Ephys'} recording${recs.length === 1 ? '' : 's'} under ${shownData} (${formatBytes(bytes)} of AP band):\n${table(rows)}`);
  for (const r of recs) for (const p of r.problems) io.out(`  ${name(r)}: ${p}\n`);

  // The Python of the Allen chain: the one given, else the first that imports the modules.
  let py: PythonFound | undefined;
  const tried: string[] = [];
  for (const candidate of o.python ? [o.python] : pythonCandidates(io.env)) {
    const r = runPython(candidate, importCheck, io.env);
    if (!r.ok) { tried.push(`${candidate} (${r.why})`); continue; }
    // A given interpreter is written as given (a conda:ENV, a wrapper); a found one by its full path.
    py = { python: o.python ?? findProgram(candidate, io.env) ?? candidate, sorter: { kind: 'builtin_sorter' } };
    break;
  }
  // Kilosort 4 often has an environment of its own: the Allen one first, then the others.
  if (py) {
    for (const candidate of [py.python, ...pythonCandidates(io.env)]) {
      const r = runPython(candidate, kilosortCheck, io.env);
      if (!r.ok) continue;
      py.sorter = { kind: 'kilosort4', python: candidate === py.python ? py.python : findProgram(candidate, io.env) ?? candidate, cpu: r.out !== 'True' };
      break;
    }
  }
  if (o.python && !py) {
    io.err(`ephys-make init: --python ${o.python} cannot import ecephys_spike_sorting: ${tried[0]?.replace(/^.*? \(/, '').replace(/\)$/, '')}; nothing written\n`);
    return 2;
  }

  const described = recs.filter((r) => r.seconds !== undefined);
  const np2 = recs.find((r) => r.isNp2 && !r.lfp && r.sampleRateHz);
  const rootRel = path.relative(path.dirname(out), dataDir);
  // Relative to the pipeline's folder where the data sits below it or one level up, else absolute.
  const root = rootRel === '' ? '.' : path.isAbsolute(rootRel) || rootRel.startsWith(`..${path.sep}..`) || rootRel === '../..'
    ? dataDir : rootRel.startsWith('..') ? rootRel.split(path.sep).join('/') : `./${rootRel.split(path.sep).join('/')}`;
  const choices: PipelineChoices = {
    chain: py ? 'allen' : 'builtin',
    python: py?.python,
    sorter: py?.sorter ?? { kind: 'builtin_sorter' },
    layout,
    root,
    match: layout === 'spikeglx' ? '**/*.ap.bin' : openEphysMatch(recs),
    shortestSeconds: described.length ? Math.min(...described.map((r) => r.seconds!)) : undefined,
    apChannels: recs.some((r) => r.apChannels) ? Math.min(...recs.filter((r) => r.apChannels).map((r) => r.apChannels!)) : undefined,
    lfpFromAp: np2 ? { sampleRateHz: np2.sampleRateHz! } : undefined,
    header: ` Written by \`ephys-make init ${shellWord(path.relative(path.dirname(out), dataDir) || '.')}\` on ${new Date().toISOString().slice(0, 10)} for ${recs.length} ${layout === 'spikeglx' ? 'SpikeGLX' : 'Open Ephys'} recording${recs.length === 1 ? '' : 's'} on ${os.hostname()}.\n`
      + (py ? ` The Allen chain: ecephys_spike_sorting modules run with ${py.python}; stages this machine\n cannot run that way are built in (see the comments on them).\n`
        : ' Every stage built in (no Python with ecephys_spike_sorting was found): TypeScript implementations\n of the Allen modules, and a quick-look sorter instead of Kilosort.\n')
      + ' ephys-make help STAGE lists every parameter of a stage; docs/pipeline.md every key of this file.',
  };
  const made = makePipeline(choices);

  // Write without ever replacing a file: a hard link fails if the name was taken meanwhile.
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, made.text);
  try {
    fs.linkSync(tmp, out);
  } catch (err: any) {
    fs.rmSync(tmp, { force: true });
    if (err.code === 'EEXIST') { io.err(`ephys-make init: ${shownOut} appeared meanwhile; nothing written\n`); return 2; }
    throw err;
  }
  fs.rmSync(tmp, { force: true });

  io.out(`\nwrote ${shownOut}: ${py
    ? `the Allen chain, with ${py.python}${py.sorter.kind === 'kilosort4' ? `; Kilosort 4 with ${py.sorter.python}` : ' (no Python with kilosort and torch: the built-in sorter stands in for Kilosort)'}`
    : `the built-in chain (no Python that imports ecephys_spike_sorting: tried ${tried.join(', ')}; give one with --python)`}\n`);

  const left = [...made.notes];
  if (others.length) {
    left.push(`${others.length} ${layout === 'spikeglx' ? 'Open Ephys' : 'SpikeGLX'} recording${others.length === 1 ? ' is' : 's are'} not matched (e.g. ${path.relative(io.cwd, others[0].dir) || '.'}) by this pipeline, which takes one layout: give them their own, e.g. ${prog} init ${shellWord(path.relative(io.cwd, others[0].dir) || '.')} -o ${layout === 'spikeglx' ? 'openephys' : 'spikeglx'}.pipeline.yaml`);
  }
  if (recs.some((r) => r.problems.length)) left.push('the recordings listed with a problem above');
  left.push('recordings.output: {recording} puts every output inside the recording\'s folder; give another drive if that one is small or read-only');
  io.out(`\nleft to set (in ${shownOut}):\n${left.map((l) => `  - ${l}\n`).join('')}`);

  // What `-n` would say about it, so a problem shows now and not at the first run.
  const check = await checkPlans(out, io);
  if (check) io.out(`\n${check}`);
  const f = o.out ?? o.file ? ` -f ${shellWord(shownOut)}` : '';
  const next = [[`${prog}${f} -n`, 'what would run, and why'], [`${prog} doctor${f}`, 'whether this machine has what each stage uses'], [`${prog}${f} all -j 2`, 'run it']];
  const width = Math.max(...next.map(([c]) => c.length)) + 3;
  io.out(`\nnext:\n${next.map(([c, what]) => `  ${c.padEnd(width)}${what}\n`).join('')}`);
  return 0;
}

/** Plans every job of the written pipeline as `-n` would: a count, or the problems found. */
async function checkPlans(file: string, io: Io): Promise<string> {
  const { openPlanner, planRun } = await import('../engine/planner.js');
  const opened = openPlanner({ file, cwd: io.cwd, targets: ['all'] });
  const problems = (diags: Parameters<typeof formatDiagnostic>[0][]) => `the written pipeline does not plan yet:\n${diags.slice(0, 10).map((d) => formatDiagnostic(d, io.cwd)).join('')}`;
  if (!opened.ok) return problems(opened.diagnostics);
  const recordings = opened.value.discover();
  if (!recordings.ok) return problems(recordings.diagnostics);
  const planned = planRun(opened.value, recordings.value, () => {}, { keep: false });
  if (planned.unplanned.length) return problems(planned.unplanned.flatMap((u) => u.diagnostics));
  const c = planned.counts;
  return `checked: ${c.total} jobs for ${recordings.value.length} recording${recordings.value.length === 1 ? '' : 's'}, ${c.toRun} to run${c.blocked ? `, ${c.blocked} cannot run (an input no stage makes is missing)` : ''}\n`;
}
