/** The command line's options, shared by `cli.ts` and every command below it. */
import { parseArgs } from 'node:util';
import type { Io } from '../base/io.js';
import { foldRepeats, formatDiagnostic, type Diagnostic } from '../base/diagnostic.js';

export interface CliOptions {
  command: string;
  targets: string[];
  file?: string;
  root?: string;
  dirs: string[];
  jobs: number;
  dryRun: boolean;
  explain: boolean;
  always: boolean;
  force: string[];
  keepGoing: boolean;
  sets: string[];
  checksum: boolean;
  mermaid: boolean;
  shuffle: boolean;
  wait: boolean;
  once: boolean;
  out?: string;
  /** serve, watch --serve: where the page listens; report, serve: which units pass. */
  port?: number;
  host?: string;
  pass?: string;
  serve: boolean;
  python?: string;
  /** --executor: where jobs run (default: the pipeline's `executor:`). */
  executor?: 'local' | 'slurm';
  /** --wait: with SLURM, follow the submitted jobs to their end. */
  follow: boolean;
  rest: string[];
}

/** A subcommand as `--help` lists it; `help COMMAND` adds its options and the text in help.ts. */
export interface CommandSpec { name: string; args: string; summary: string; options: string[] }

const pipelineOptions = ['file', 'root', 'dir'];

/** Every subcommand, in the order `--help` lists them. The default command (`run`) comes first. */
export const commandSpecs: CommandSpec[] = [
  { name: 'run', args: '[all | STAGE...]', summary: 'run stale jobs of these stages and their stale prerequisites (the default command)', options: [...pipelineOptions, 'jobs', 'dry-run', 'explain', 'always-make', 'force', 'keep-going', 'set', 'checksum', 'no-wait', 'executor', 'wait'] },
  { name: 'status', args: '[STAGE...]', summary: 'recordings x stages: up to date, stale (reason), failed, running', options: [...pipelineOptions, 'set', 'checksum'] },
  { name: 'graph', args: '[--mermaid]', summary: 'the stage graph as DOT (or Mermaid), edges labelled with the files between', options: ['file', 'mermaid'] },
  { name: 'watch', args: '[TARGET...]', summary: 'process recordings as they appear and become complete', options: ['file', 'root', 'jobs', 'set', 'checksum', 'no-wait', 'once', 'serve', 'port', 'host', 'pass', 'executor'] },
  { name: 'clean', args: '[STAGE...]', summary: "remove stages' declared outputs and records (and downstream records)", options: pipelineOptions },
  { name: 'cancel', args: '[STAGE...]', summary: 'scancel what this root has queued or running on SLURM (those stages and the jobs after them)', options: pipelineOptions },
  { name: 'input-json', args: 'STAGE --dir D', summary: 'print the input JSON a job would get, without running it', options: [...pipelineOptions, 'set'] },
  { name: 'serve', args: '', summary: 'a live page of the jobs, results and run history, on 127.0.0.1', options: ['file', 'root', 'dir', 'port', 'host', 'pass'] },
  { name: 'report', args: '[-o FILE]', summary: 'the same page as one HTML file that works offline', options: ['file', 'root', 'dir', 'out', 'pass'] },
  { name: 'verify-backup', args: '[--dir D]...', summary: 'read every backed-up file back from its disk and compare it with its manifest (--dir: the backups under D)', options: ['file', 'dir'] },
  { name: 'doctor', args: '', summary: "check that what each stage uses (interpreter, module, program, paths) is there", options: ['file'] },
  { name: 'init', args: '[DATA_DIR]', summary: 'find the recordings in DATA_DIR and write a pipeline.yaml for them', options: ['out', 'python'] },
  { name: 'demo', args: '', summary: 'make synthetic recordings and run the whole built-in chain on them', options: ['out', 'jobs'] },
  { name: 'synth', args: '--out DIR', summary: 'synthetic recordings with ground truth only (help synth: its options)', options: [] },
  { name: 'help', args: '[COMMAND | STAGE]', summary: "this text; a command's options; a stage's inputs, outputs and parameters", options: ['file'] },
];

export interface OptionSpec { name: string; flags: string; text: string }

export const optionSpecs: OptionSpec[] = [
  { name: 'file', flags: '-f, --file FILE', text: 'pipeline file (default ./pipeline.yaml)' },
  { name: 'root', flags: '    --root DIR', text: 'search this folder for recordings instead of recordings.root' },
  { name: 'dir', flags: '    --dir D', text: 'only recordings in D (a folder or a glob; repeatable)' },
  { name: 'jobs', flags: '-j, --jobs N', text: 'run up to N jobs at once (default 1; demo: 2)' },
  { name: 'dry-run', flags: '-n, --dry-run', text: 'print what would run and why, run nothing' },
  { name: 'explain', flags: '    --explain', text: 'print why each job runs' },
  { name: 'always-make', flags: '-B, --always-make', text: 'treat every job as stale' },
  { name: 'force', flags: '    --force STAGE', text: "treat STAGE's jobs as stale (repeatable)" },
  { name: 'keep-going', flags: '-k, --keep-going', text: 'after a failure, go on with jobs that do not depend on it' },
  { name: 'set', flags: '    --set S.K=V', text: 'set input-JSON value K of stage S (or params.SECTION.K); repeatable' },
  { name: 'checksum', flags: '    --checksum', text: 'compare file contents instead of size/mtime/inode' },
  { name: 'no-wait', flags: '    --no-wait', text: 'skip recordings locked by another ephys-make instead of waiting' },
  { name: 'executor', flags: '    --executor E', text: "local (run here) or slurm (submit to SLURM); default: the pipeline's executor" },
  { name: 'wait', flags: '    --wait', text: 'slurm: after submitting, follow the jobs until they end' },
  { name: 'mermaid', flags: '    --mermaid', text: 'graph: print Mermaid instead of DOT' },
  { name: 'once', flags: '    --once', text: 'watch: process what is ready now, then exit' },
  { name: 'serve', flags: '    --serve', text: 'watch: serve the live page beside the watch' },
  { name: 'port', flags: '    --port N', text: 'serve: port of the page (default 8765; 0 picks a free one)' },
  { name: 'host', flags: '    --host H', text: 'serve: address to listen on (default 127.0.0.1)' },
  { name: 'pass', flags: '    --pass RULES', text: 'serve, report: units that pass (default isi_viol<0.5,amplitude_cutoff<0.1,presence_ratio>0.9)' },
  { name: 'out', flags: '-o, --out PATH', text: 'init: the pipeline file to write (default ./pipeline.yaml); report: the file to write (default report.html); demo: its folder (default ./demo)' },
  { name: 'python', flags: '    --python PY', text: "init: the Python with ecephys_spike_sorting (a venv's bin/python, or conda:ENV)" },
  { name: 'help', flags: '-h, --help', text: 'this text; with a command or stage, help on it' },
  { name: 'version', flags: '    --version', text: "ephys-make's version" },
];

export function optionLines(names: string[]): string {
  const specs = optionSpecs.filter((s) => names.includes(s.name));
  const width = Math.max(...optionSpecs.map((s) => s.flags.length)) + 2;
  return specs.map((s) => `  ${s.flags.padEnd(width)}${s.text}\n`).join('');
}

function commandLines(): string {
  const rows = commandSpecs.filter((c) => c.name !== 'run').map((c) => [`${c.name}${c.args ? ` ${c.args}` : ''}`, c.summary]);
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => `  ${a.padEnd(width)}${b}\n`).join('');
}

/** The overview `--help` prints; `prog` is how the user typed the program (see invocation.ts). */
export function usageFor(prog: string): string {
  return `usage: ${prog} [all | STAGE...] [options]
       ${prog} COMMAND [options]
       ${prog} help [COMMAND | STAGE]

commands:
${commandLines()}
options:
${optionLines(optionSpecs.map((s) => s.name))}
exit status: 0 done or nothing to do, 1 a job failed, 2 usage or configuration error, 130 interrupted
`;
}

export const usage = usageFor('ephys-make');

const subcommands = new Set(commandSpecs.map((c) => c.name));

export function parseCli(argv: string[]): { ok: true; options: CliOptions } | { ok: false; message: string } {
  if (argv[0] === 'synth') return { ok: true, options: { ...defaults(), command: 'synth', rest: argv.slice(1) } };
  // What a SLURM job runs on its node (not for people: the submitter writes its arguments).
  if (argv[0] === 'run-job') return { ok: true, options: { ...defaults(), command: 'run-job', rest: argv.slice(1) } };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        file: { type: 'string', short: 'f' },
        root: { type: 'string' },
        dir: { type: 'string', multiple: true },
        jobs: { type: 'string', short: 'j' },
        'dry-run': { type: 'boolean', short: 'n' },
        explain: { type: 'boolean' },
        'always-make': { type: 'boolean', short: 'B' },
        force: { type: 'string', multiple: true },
        'keep-going': { type: 'boolean', short: 'k' },
        set: { type: 'string', multiple: true },
        checksum: { type: 'boolean' },
        mermaid: { type: 'boolean' },
        shuffle: { type: 'boolean' },
        'no-wait': { type: 'boolean' },
        once: { type: 'boolean' },
        out: { type: 'string', short: 'o' },
        port: { type: 'string' },
        host: { type: 'string' },
        pass: { type: 'string' },
        serve: { type: 'boolean' },
        python: { type: 'string' },
        executor: { type: 'string' },
        wait: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (err: any) {
    return { ok: false, message: err.message };
  }
  const v = parsed.values;
  // `--dir ''` (an unset shell variable) would mean the current folder, or worse: say so instead.
  for (const name of ['file', 'root', 'dir', 'force', 'set', 'out', 'jobs'] as const) {
    const values = ([] as unknown[]).concat(v[name] ?? []);
    if (values.some((x) => typeof x === 'string' && x.trim() === '')) {
      return { ok: false, message: `--${name} was given an empty value${name === 'dir' || name === 'root' ? ' (an unset shell variable?); give a folder' : ''}` };
    }
  }
  let positionals = parsed.positionals;
  // `ephys-make status --help` and `ephys-make STAGE --help` are `ephys-make help status|STAGE`.
  if (v.help) {
    const about = positionals[0] === 'help' && positionals.length > 1 ? positionals.slice(1) : positionals;
    return { ok: true, options: { ...defaults(), command: 'help', targets: about.slice(0, 1), file: v.file } };
  }
  if (v.version) return { ok: true, options: { ...defaults(), command: 'version' } };
  let command = 'run';
  if (positionals.length && subcommands.has(positionals[0])) {
    command = positionals[0] === 'run' ? 'run' : positionals[0];
    positionals = positionals.slice(1);
  }
  if (v.executor !== undefined && v.executor !== 'local' && v.executor !== 'slurm') return { ok: false, message: `--executor ${v.executor}: expected local or slurm` };
  let jobs = 1;
  if (v.jobs !== undefined) {
    jobs = Number(v.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) return { ok: false, message: `-j ${v.jobs}: expected a whole number of jobs, 1 or more` };
  }
  let port: number | undefined;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) return { ok: false, message: `--port ${v.port}: expected a port number, 0 to 65535` };
  }
  return {
    ok: true,
    options: {
      command,
      targets: positionals,
      file: v.file,
      root: v.root,
      dirs: v.dir ?? [],
      jobs,
      dryRun: !!v['dry-run'],
      explain: !!v.explain,
      always: !!v['always-make'],
      force: v.force ?? [],
      keepGoing: !!v['keep-going'],
      sets: v.set ?? [],
      checksum: !!v.checksum,
      mermaid: !!v.mermaid,
      shuffle: !!v.shuffle,
      wait: !v['no-wait'],
      once: !!v.once,
      out: v.out,
      port,
      host: v.host,
      pass: v.pass,
      serve: !!v.serve,
      python: v.python,
      executor: v.executor as CliOptions['executor'],
      follow: !!v.wait,
      rest: [],
    },
  };
}

function defaults(): CliOptions {
  return { command: 'run', targets: [], dirs: [], jobs: 1, dryRun: false, explain: false, always: false, force: [], keepGoing: false, sets: [], checksum: false, mermaid: false, shuffle: false, wait: true, once: false, serve: false, follow: false, rest: [] };
}

export function printDiagnostics(io: Io, diags: Diagnostic[]): number {
  for (const d of foldRepeats(diags)) io.err(formatDiagnostic(d, io.cwd));
  return 2;
}

export function engineOptions(o: CliOptions, io: Io) {
  return {
    file: o.file, cwd: io.cwd, root: o.root, dirs: o.dirs, targets: o.targets, sets: o.sets,
    checksum: o.checksum, forceAll: o.always, forceStages: o.force,
  };
}
