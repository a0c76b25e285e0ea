/**
 * `ephys-make synth --out DIR ...`: write synthetic Neuropixels 1.0 recordings with their ground
 * truth, for trying a pipeline, for tests, and for `demo`.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { synthesize, SynthError, type SynthOptions, type SynthLayout } from '../synth/generate.js';

export interface SynthIo { out: (s: string) => void; err: (s: string) => void }

export const synthUsage = `usage: ephys-make synth --out DIR [options]

Writes DIR/data/<recording>/... (raw AP and LF binaries with their .meta or structure.oebin)
and a ground_truth/ folder beside each recording.

options:
      --out DIR              output folder (required)
      --recordings N         how many recordings (default 3)
      --seconds S            length of each (default 20)
      --channels C           saved channels, 4 to 384 (default 384)
      --units U              units per recording (default a quarter of the channels, at most 150)
      --layout L             spikeglx or openephys (default spikeglx)
      --seed N               same options and seed give byte-identical files (default 1)
      --drift-um X           slow linear drift of every unit over a recording, µm (default 0)
      --violation-units L    units given refractory violations: comma-separated ids, or none
                             (default: the fastest-firing unit)
      --workers N            render threads (default: one per core, at most 4)
      --no-lfp               write the AP band only
  -h, --help                 this text
`;

type Parsed = { ok: true; options: SynthOptions } | { ok: false; message: string } | { ok: 'help' };

function wholeNumber(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new SynthError(`--${name} must be a whole number, got '${text}'`);
  return Number(text);
}

function decimal(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new SynthError(`--${name} must be a number, got '${text}'`);
  return v;
}

export function parseSynthArgs(argv: string[]): Parsed {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        out: { type: 'string' },
        recordings: { type: 'string' },
        seconds: { type: 'string' },
        channels: { type: 'string' },
        units: { type: 'string' },
        layout: { type: 'string' },
        seed: { type: 'string' },
        'drift-um': { type: 'string' },
        'violation-units': { type: 'string' },
        workers: { type: 'string' },
        'no-lfp': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
  if (values.help) return { ok: 'help' };
  if (!values.out) return { ok: false, message: '--out DIR is required' };
  try {
    const layout = values.layout;
    if (layout !== undefined && layout !== 'spikeglx' && layout !== 'openephys') {
      throw new SynthError(`--layout must be spikeglx or openephys, got '${layout}'`);
    }
    let violationUnits: number[] | undefined;
    const v = values['violation-units'];
    if (v !== undefined) violationUnits = v === 'none' || v === '' ? [] : v.split(',').map((x) => wholeNumber('violation-units', x.trim())!);
    return {
      ok: true,
      options: {
        outDir: path.resolve(values.out),
        recordings: wholeNumber('recordings', values.recordings),
        seconds: decimal('seconds', values.seconds),
        channels: wholeNumber('channels', values.channels),
        units: wholeNumber('units', values.units),
        layout: layout as SynthLayout | undefined,
        seed: wholeNumber('seed', values.seed),
        driftUm: decimal('drift-um', values['drift-um']),
        lfp: !values['no-lfp'],
        violationUnits,
        workers: wholeNumber('workers', values.workers),
      },
    };
  } catch (err) {
    if (err instanceof SynthError) return { ok: false, message: err.message };
    throw err;
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export async function runSynth(argv: string[], io: SynthIo): Promise<number> {
  const parsed = parseSynthArgs(argv);
  if (parsed.ok === 'help') {
    io.out(synthUsage);
    return 0;
  }
  if (!parsed.ok) {
    io.err(`ephys-make synth: ${parsed.message}\n\n${synthUsage}`);
    return 2;
  }
  const o = parsed.options;
  let summary;
  try {
    summary = await synthesize({
      ...o,
      onRecording: (r) => {
        const seconds = r.samples / r.sampleRateHz;
        io.out(`${r.name}: ${seconds} s, ${r.channels} channels, ${r.units} units, ${r.spikes} spikes, surface at channel ${r.surfaceChannel} -> ${path.relative(o.outDir, r.dir) || '.'}\n`);
      },
    });
  } catch (err) {
    if (err instanceof SynthError) {
      io.err(`ephys-make synth: ${err.message}\n`);
      return 2;
    }
    // A full disk or a folder we may not write to: the system's message names the path.
    if (typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall) {
      io.err(`ephys-make synth: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  }
  const realSeconds = summary.recordings.reduce((s, r) => s + r.samples / r.sampleRateHz, 0);
  const rate = summary.bytesWritten / summary.elapsedSeconds;
  io.out(`wrote ${megabytes(summary.bytesWritten)} of ${summary.layout} data in ${summary.elapsedSeconds.toFixed(1)} s `
    + `(${megabytes(rate)}/s, ${(realSeconds / summary.elapsedSeconds).toFixed(1)}x real time) under ${summary.dataDir}\n`);
  return 0;
}
