/**
 * `ephys-make demo`: make a small synthetic recording set under ./demo (unless it is there), run
 * the all-built-in demo pipeline on it, and print where the results are and what was found.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { packageRoot } from '../base/paths.js';
import { synthesize } from '../synth/generate.js';
import { readNpy } from '../formats/npy.js';
import { run } from './run.js';
import { invocation, shellWord } from './invocation.js';

const completeMarker = '.synthesized';
const startedMarker = '.synthesizing';

export async function demo(o: CliOptions, io: Io): Promise<number> {
  const out = path.resolve(io.cwd, o.out ?? 'demo');
  const dataDir = path.join(out, 'data');
  if (!fs.existsSync(path.join(out, completeMarker))) {
    // A set cut short (Ctrl-C while writing) is made again from scratch, never trusted; a data
    // folder demo did not start is someone's data and is left alone (synth then refuses to write).
    if (fs.existsSync(path.join(out, startedMarker))) fs.rmSync(dataDir, { recursive: true, force: true });
    else if (fs.existsSync(dataDir)) {
      io.err(`ephys-make demo: ${dataDir} already exists and was not made by demo; demo never writes over it (give another folder with --out)\n`);
      return 2;
    }
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, startedMarker), new Date().toISOString() + '\n');
    io.out(`making synthetic recordings in ${path.relative(io.cwd, out) || '.'}/ (3 recordings x 20 s x 128 channels, SpikeGLX layout)\n`);
    let lastPct = -1;
    const summary = await synthesize({
      outDir: out, recordings: 3, seconds: 20, channels: 128, layout: 'spikeglx', seed: 1,
      onProgress: (p) => {
        const pct = Math.floor((100 * p.bytesDone) / p.bytesTotal / 25) * 25;
        if (pct !== lastPct) { lastPct = pct; io.out(`  ${p.recording}: ${pct}%\n`); }
      },
    });
    io.out(`  ${(summary.bytesWritten / 1e6).toFixed(0)} MB in ${summary.elapsedSeconds.toFixed(1)} s\n`);
    fs.writeFileSync(path.join(out, completeMarker), new Date().toISOString() + '\n');
    fs.rmSync(path.join(out, startedMarker), { force: true });
  }
  const pipeline = path.join(out, 'pipeline.yaml');
  if (!fs.existsSync(pipeline)) fs.copyFileSync(path.join(packageRoot, 'examples', 'demo.pipeline.yaml'), pipeline);

  const code = await run({ ...o, command: 'run', targets: [], file: pipeline, jobs: o.jobs > 1 ? o.jobs : 2 }, { ...io, cwd: out });
  if (code !== 0) return code;
  io.out(`\nresults (pipeline: ${path.relative(io.cwd, pipeline)}):\n`);
  for (const rec of findRecordings(dataDir)) io.out(await summarise(rec, io.cwd));
  io.out(`\nsee what ran and why: ${invocation(io)} status -f ${shellWord(path.relative(io.cwd, pipeline))}\n`);
  return 0;
}

function findRecordings(dataDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (fs.readdirSync(p).some((f) => f.endsWith('.ap.bin'))) out.push(p); else walk(p);
    }
  };
  if (fs.existsSync(dataDir)) walk(dataDir);
  return out.sort();
}

async function summarise(rec: string, cwd: string): Promise<string> {
  const post = path.join(rec, 'postprocessed');
  let line = `  ${path.relative(cwd, rec)}\n`;
  try {
    const clusters = readNpy(path.join(post, 'spike_clusters.npy'));
    const units = new Set(Array.from(clusters.data as ArrayLike<number | bigint>, Number)).size;
    line += `    ${units} units, ${clusters.shape[0]} spikes`;
    const gt = path.join(rec, 'ground_truth');
    if (fs.existsSync(gt)) {
      try {
        const { compareToGroundTruth } = await import('../synth/groundTruthMatch.js');
        const c = compareToGroundTruth(path.join(rec, 'sorted'), gt);
        line += `\n    against the ground truth: ${c.wellSortedUnits} of ${c.detectableUnits} units with peak amplitude > ${c.minSnr}x noise sorted with accuracy >= ${c.goodAccuracy} (mean accuracy ${c.meanAccuracy.toFixed(2)})`;
      } catch { /* the comparison is a bonus */ }
    }
    line += '\n';
  } catch {
    line += '    (no sorted units)\n';
  }
  const metrics = path.join(post, 'metrics.csv');
  if (fs.existsSync(metrics)) line += `    metrics: ${path.relative(cwd, metrics)}\n`;
  const fig = path.join(rec, 'probe_depth.png');
  if (fs.existsSync(fig)) line += `    probe depth figure: ${path.relative(cwd, fig)}\n`;
  return line;
}
