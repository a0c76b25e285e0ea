/**
 * `ephys-make help [COMMAND | STAGE]` (and `COMMAND --help`, `STAGE --help`): the overview, one
 * command's use and options, or one stage's inputs, outputs and parameters (stageHelp.ts).
 */
import path from 'node:path';
import type { Io } from '../base/io.js';
import { commandSpecs, optionLines, usageFor, type CliOptions } from './options.js';
import { invocation } from './invocation.js';
import { stageHelp, stageNames } from './stageHelp.js';

/** What each command does, beyond its one-line summary; `$0` is how the user runs ephys-make. */
const commandText: Record<string, string> = {
  run: `Runs the stale jobs of these stages (default: all) and of the stages they need, for every
recording found under recordings.root (or --root, or only those in --dir). A job is stale when
an output is missing, its last run failed or was interrupted, its stage definition, input JSON
or an input file changed, or a job upstream of it reruns; -n and --explain give each job's
first reason. On a terminal a status line shows progress; in a log, a progress line per
running job every 30 s (EPHYS_MAKE_PROGRESS_SECONDS).

With --executor slurm (or executor: slurm in pipeline.yaml) the stale jobs are submitted to SLURM
as one dependency graph and the command returns; --wait follows them to their end.

examples:
  $0 -n                          what would run, and why
  $0 all -j 4                    run everything that is stale, 4 jobs at once
  $0 all --executor slurm --wait submit it to SLURM and follow it
  $0 quality_metrics --dir data/SC048_g0
  $0 --set quality_metrics.quality_metrics_params.isi_threshold=0.002 -n`,
  status: `Prints a table of recordings x stages: up to date, stale, failed, running or blocked,
then each stale job's reason and each failure's log. Reads records and file sizes/times only;
runs nothing. With STAGE names, only those stages and the ones they need.

example:
  $0 status`,
  graph: `Prints the stage graph of the pipeline: an edge wherever one stage's output is another's
input (labelled with the file), or an after: entry. DOT by default (render with
\`dot -Tsvg\`), Mermaid with --mermaid.

example:
  $0 graph --mermaid`,
  watch: `Scans the root, queues every job that is not up to date, then follows the root and processes
each new recording once it is complete (recordings.ready: settle_seconds, when). Never stops on
a failure (like -k); a failed job waits until something it depends on changes. Events go to
<root>/.ephys-make/watch.jsonl. --dir, -n, -B and --force do not go with watch.

examples:
  $0 watch -j 2
  $0 watch --once                for cron: process what is ready now, then exit`,
  serve: `Serves a live page of the recordings x stages (coloured as status sees them), each recording's
results (units, quality metrics, figures, runs) and the run history, on 127.0.0.1. It prints an
address with a token that every request needs; --host other than 127.0.0.1 prints a warning,
since whoever has the address can rerun jobs. Actions on the page (rerun, force, stop a job) go
through the same engine, locks and records as a command typed here. Ctrl-C stops it.

examples:
  $0 serve --port 0              a free port
  $0 watch --serve               the same page beside a watch`,
  report: `Writes the page as one self-contained HTML file (the board, the table, each recording's
results and runs, the logs of failed jobs, the depth figures) that opens from disk and asks the
network for nothing: to mail or archive. Its counts are those of status at the time.

example:
  $0 report -o weekly.html`,
  clean: `Removes the declared outputs and records of these stages (default: all) in every recording,
and drops the records of the stages downstream of them. Nothing else is deleted: never a
recording's own files, never a file no stage declares. A recording another ephys-make is
working on is skipped.

example:
  $0 clean quality_metrics --dir data/SC048_g0`,
  cancel: `Cancels (scancel) the jobs this root has queued or running on SLURM: those of these stages
(default: all) and the jobs after them, in every recording (or those in --dir). Their records
say they were cancelled, so status shows it and the next run starts them again. A job running
outside SLURM is named and left alone (stop its ephys-make with Ctrl-C).

examples:
  $0 cancel                      everything this root has on SLURM
  $0 cancel kilosort --dir data/SC048_g0`,
  'verify-backup': `Reads every backed-up file back from its disk and compares it with its manifest line; reports
files that are missing, changed, or there without a manifest line. Without --dir, the backups the
pipeline's backup stages make, recording by recording; with --dir, every backup found under D (a
backup root, or a folder in it), which works after the recording itself is gone. Exits 0 when
every file matches, 1 when one is missing or changed or a recording has no backup yet.

examples:
  $0 verify-backup
  $0 verify-backup --dir /mnt/backup1`,
  'input-json': `Prints the input JSON a job of STAGE would get (layered from the shared params, the stage's
params, the recording's .meta / structure.oebin, its ephys-make.yaml and --set, with the
schema's defaults filled in), without running anything. One recording: that JSON; several:
an object keyed by recording.

example:
  $0 input-json quality_metrics --dir data/SC048_g0`,
  doctor: `Checks, for the pipeline in use, what each stage will actually use: the Python interpreter
and its ecephys_spike_sorting module (python-module), the program of a command stage, the
built-in implementation (builtin), and the files an Allen module opens before it starts
(the median subtraction program, the Kilosort repository, ...). Says how to fix what is
missing; exits 1 if anything is. Runs nothing of the pipeline.

example:
  $0 doctor`,
  init: `Looks for recordings under DATA_DIR (default: the current folder): SpikeGLX probe folders
(*_g0/*_imec0/*.ap.bin with .ap.meta) and Open Ephys recordings
(continuous/Neuropix-*/continuous.dat with structure.oebin), NP1.0 and NP2.0. Prints what it
found (probe types, channel counts, sample rates, lengths) and writes a pipeline.yaml for them:
the Allen chain (python-module stages) when a Python that imports ecephys_spike_sorting is
found (an active venv or conda env, python3, python) or given with --python, else the chain of
built-in stages, which needs no Python. Stages this machine cannot run through Python are built
in, each with a comment saying so. Then checks that the pipeline plans, as -n would, and prints
what is left to set. Never writes over a file: an existing pipeline.yaml is an error (exit 2);
write elsewhere with -o FILE.

examples:
  $0 init /data/npx              writes ./pipeline.yaml for the recordings under /data/npx
  $0 init /data/npx --python /opt/ecephys/venv/bin/python -o allen.yaml`,
  demo: `Makes three synthetic Neuropixels 1.0 recordings (SpikeGLX layout, 20 s x 128 channels,
with ground truth) under ./demo unless they are there, runs every built-in stage on them and
prints where the results are and how the sorting compares with the ground truth. Needs no
Python, MATLAB or GPU. Run it again and it finds everything up to date.

example:
  $0 demo -j 2`,
  help: `Without an argument, the overview of commands and options. With a command, its use and
options. With a stage name, the stage's inputs, outputs and every parameter of its input JSON
with its default and meaning, from stages/MODULE/schema.json; where a pipeline.yaml is (or -f
FILE), the pipeline's own definition of that stage and the values it sets.

examples:
  $0 help quality_metrics
  $0 kilosort --help -f pipeline.yaml`,
};

export function commandHelp(name: string, prog: string): string | undefined {
  const spec = commandSpecs.find((c) => c.name === name);
  if (!spec) return undefined;
  const synopsis = name === 'run' ? `${prog} ${spec.args} [options]` : `${prog} ${name}${spec.args ? ` ${spec.args}` : ''}${spec.options.length ? ' [options]' : ''}`;
  let out = `usage: ${synopsis}\n\n${spec.summary.replace(/ \(the default command\)$/, '')}.\n`;
  const text = commandText[name];
  if (text) out += `\n${text.replace(/\$0/g, prog)}\n`;
  if (spec.options.length) out += `\noptions:\n${optionLines(spec.options)}`;
  return out;
}

export async function help(o: CliOptions, io: Io): Promise<number> {
  const prog = invocation(io);
  const about = o.targets[0];
  if (!about) { io.out(usageFor(prog)); return 0; }
  if (about === 'synth') {
    const { synthUsage } = await import('./synth.js');
    io.out(synthUsage.replace(/^usage: ephys-make/, `usage: ${prog}`));
    return 0;
  }
  const text = commandHelp(about === 'all' ? 'run' : about, prog);
  if (text) { io.out(text); return 0; }
  const file = path.resolve(io.cwd, o.file ?? 'pipeline.yaml');
  const shown = stageHelp(about, { file, given: o.file !== undefined, io, prog });
  if (shown !== undefined) return shown;
  const stages = stageNames(file);
  io.err(`ephys-make: help: no command or stage '${about}'\n  commands: ${commandSpecs.map((c) => c.name).join(', ')}\n  stages: ${stages.join(', ')}\n`);
  return 2;
}
