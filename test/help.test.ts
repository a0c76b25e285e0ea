/** `--help`, `help COMMAND`, `COMMAND --help`, `help STAGE`, `STAGE --help`: the real CLI in temp folders. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { binPath, repoRoot, runCli, tempDir, timed, writeFile } from './rig.js';

/** How the CLI names itself when started as `node <bin>` from a folder outside the repository. */
const progText = `node ${binPath}`;
const prog = progText.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** PATH without an `ephys-make` (a developer's `npm link`), and not under npm exec. */
const plain = {
  npm_command: undefined,
  PATH: (process.env.PATH ?? '').split(path.delimiter).filter((d) => !fs.existsSync(path.join(d, 'ephys-make'))).join(path.delimiter),
};
const run = (args: string[], cwd: string) => runCli(args, { cwd, env: plain });

function commandsListed(usage: string): string[] {
  const block = usage.split('\ncommands:\n')[1].split('\n\n')[0];
  return block.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

test('--help and help print the overview: every command, every option, --version, the exit statuses', timed(async () => {
  const dir = tempDir();
  const a = await run(['--help'], dir);
  const b = await run(['help'], dir);
  assert.is(a.code, 0, a.stderr);
  assert.is(b.code, 0, b.stderr);
  assert.is(a.stdout, b.stdout);
  assert.match(a.stdout, new RegExp(`^usage: ${prog} \\[all \\| STAGE\\.\\.\\.\\] \\[options\\]$`, 'm'));
  assert.match(a.stdout, /^ {6}--version +ephys-make's version$/m);
  assert.match(a.stdout, /^exit status: 0 done or nothing to do, 1 a job failed, 2 usage or configuration error, 130 interrupted$/m);
  assert.equal(commandsListed(a.stdout).slice(0, 4), ['status', 'graph', 'watch', 'clean']);
  const v = await runCli(['--version'], { cwd: dir });
  const own = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
  assert.is(v.stdout, `ephys-make ${own}\n`);
}));

test('help COMMAND and COMMAND --help: its usage line, what it does and only its options, for every command listed', timed(async () => {
  const dir = tempDir();
  const usage = (await run(['--help'], dir)).stdout;
  for (const command of commandsListed(usage)) {
    const a = await run(['help', command], dir);
    assert.is(a.code, 0, `${command}: ${a.stderr}`);
    assert.ok(a.stdout.startsWith(`usage: ${progText} ${command}`), `${command}: ${a.stdout.split('\n')[0]}`);
    if (command === 'synth') continue;
    const b = await run([command, '--help'], dir);
    assert.is(b.code, 0, `${command} --help: ${b.stderr}`);
    assert.is(b.stdout, a.stdout, command);
  }
  const status = (await run(['help', 'status'], dir)).stdout;
  assert.match(status, /^ {2}-f, --file FILE +pipeline file \(default \.\/pipeline\.yaml\)$/m);
  assert.not.match(status, /--mermaid|--keep-going/);
  const runHelp = (await run(['help', 'run'], dir)).stdout;
  assert.match(runHelp, new RegExp(`^usage: ${prog} \\[all \\| STAGE\\.\\.\\.\\] \\[options\\]$`, 'm'));
  assert.match(runHelp, /^ {2}-k, --keep-going +after a failure, go on with jobs that do not depend on it$/m);
}));

test('help STAGE without a pipeline: the shipped declaration and every parameter of its schema with type, default and meaning', timed(async () => {
  const dir = tempDir();
  const r = await run(['help', 'quality_metrics'], dir);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^quality_metrics: as the shipped pipeline\.yaml declares it \(no pipeline\.yaml here; -f FILE shows its own definition\)$/m);
  assert.match(r.stdout, /^inputs:\n {2}\{output\}\/kilosort_postprocessed\/spike_times\.npy +\(made by kilosort_postprocessing\)$/m);
  assert.match(r.stdout, /^outputs:\n {2}\{output\}\/kilosort_postprocessed\/metrics\.csv$/m);
  assert.match(r.stdout, /^ {2}isi_threshold: number > 0, default 0\.0015(, pipeline\.yaml: \S+)?\n {6}Seconds: refractory period for ISI violations\.$/m);
  assert.match(r.stdout, /^ {2}num_channels_to_compare: integer >= 1 odd, default 13(, pipeline\.yaml: \d+)?$/m);
  assert.match(r.stdout, /^ {2}quality_metrics_output_file: string, required, pipeline\.yaml: "\{output\}\/kilosort_postprocessed\/metrics\.csv"$/m);
  // Every parameter of its own section and of the shared sections it takes, with its default.
  const schema = JSON.parse(fs.readFileSync(path.join(repoRoot, 'stages', 'quality_metrics', 'schema.json'), 'utf8'));
  const common = JSON.parse(fs.readFileSync(path.join(repoRoot, 'stages', 'common.schema.json'), 'utf8'));
  const sections: Record<string, any> = { quality_metrics_params: schema.properties.quality_metrics_params, ephys_params: common.definitions.ephys_params, directories: common.definitions.directories };
  for (const [section, def] of Object.entries(sections)) {
    assert.match(r.stdout, new RegExp(`^${section}( |$)`, 'm'));
    for (const [key, p] of Object.entries<any>(def.properties)) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`  ${key}: `));
      assert.ok(line, `${section}.${key} listed`);
      if (p.default !== undefined) assert.ok(line!.includes(`default ${JSON.stringify(p.default)}`), `${key}: ${line}`);
    }
  }
  const same = await run(['quality_metrics', '--help'], dir);
  assert.is(same.stdout, r.stdout);
}));

test("help STAGE in a pipeline's folder: its own runner, inputs, outputs and the values it sets", timed(async () => {
  const dir = tempDir();
  writeFile(dir, 'pipeline.yaml', `version: 1
recordings: { root: ./data, match: "**/*.ap.bin" }
params:
  ephys_params: { sample_rate: 25000 }
  directories: { kilosort_output_directory: "{output}/ks" }
stages:
  sort:
    run: command
    command: ["my sorter", "{input_json}"]
    inputs: ["{marker}"]
    outputs: ["{output}/ks/spike_times.npy"]
  metrics:
    run: builtin
    module: quality_metrics
    inputs: ["{output}/ks/spike_times.npy", { path: "{output}/ks/extra.csv", optional: true }]
    outputs: ["{output}/ks/metrics.csv"]
    resources: {}
    params:
      quality_metrics_params: { isi_threshold: 0.002, quality_metrics_output_file: "{output}/ks/metrics.csv" }
`);
  const r = await run(['metrics', '--help'], dir);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^metrics: a stage of pipeline\.yaml\n {2}run: builtin quality_metrics \(ephys-make's own implementation, version \S+\)$/m);
  assert.match(r.stdout, /^inputs:\n {2}\{output\}\/ks\/spike_times\.npy +\(made by sort\)\n {2}\{output\}\/ks\/extra\.csv +\(optional; the recording's own, or made outside the pipeline\)\noutputs:\n {2}\{output\}\/ks\/metrics\.csv\n/m);
  assert.match(r.stdout, /^ {2}isi_threshold: number > 0, default 0\.0015, pipeline\.yaml: 0\.002$/m);
  assert.match(r.stdout, /^ {2}sample_rate: number > 0, default 30000, pipeline\.yaml: 25000$/m);
  const sort = await run(['help', 'sort'], dir);
  assert.match(sort.stdout, /^ {2}run: command: "my sorter" \{input_json\}$/m);
  assert.match(sort.stdout, /^read by: metrics$/m);
  // The example it prints runs as printed, in the same folder.
  const example = /one recording's, without running: (.*) --dir DIR\)/.exec(r.stdout)![1];
  fs.mkdirSync(path.join(dir, 'data', 'r1'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'data', 'r1', 'x.ap.bin'), 'raw');
  const ran = spawnSync('sh', ['-c', `${example} --dir data/r1`], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...plain, NO_COLOR: '1' } });
  assert.is(ran.status, 0, ran.stderr);
  assert.is(JSON.parse(ran.stdout).quality_metrics_params.isi_threshold, 0.002);
  // Named with -f from elsewhere, the hint names it too.
  fs.mkdirSync(path.join(dir, 'elsewhere'));
  const other = await run(['help', 'metrics', '-f', '../pipeline.yaml'], path.join(dir, 'elsewhere'));
  assert.match(other.stdout, /^metrics: a stage of \.\.\/pipeline\.yaml$/m);
  const fromThere = /one recording's, without running: (.*) --dir DIR\)/.exec(other.stdout)![1];
  assert.ok(fromThere.endsWith(' -f ../pipeline.yaml input-json metrics'), fromThere);
  const ran2 = spawnSync('sh', ['-c', `${fromThere} --dir ../data/r1`], { cwd: path.join(dir, 'elsewhere'), encoding: 'utf8', env: { ...process.env, ...plain, NO_COLOR: '1' } });
  assert.is(ran2.status, 0, ran2.stderr);
}));

test('help of something that is neither: exit 2 naming the commands and stages; an unknown option: exit 2 with the overview', timed(async () => {
  const dir = tempDir();
  const r = await runCli(['help', 'quality_metric'], { cwd: dir });
  assert.is(r.code, 2);
  assert.match(r.stderr, /^ephys-make: help: no command or stage 'quality_metric'\n {2}commands: run, status, .*\n {2}stages: .*quality_metrics/m);
  // A pipeline.yaml with mistakes: said so, and the shipped definition shown; named with -f: its errors, exit 2.
  writeFile(dir, 'pipeline.yaml', 'version: 1\nrecordings: { root: ., match: "*.bin" }\nstages:\n  x: { run: bogus }\n');
  const broken = await run(['help', 'quality_metrics'], dir);
  assert.is(broken.code, 0);
  assert.match(broken.stderr, /^warning: pipeline\.yaml has errors \(see .* -n -f pipeline\.yaml\); showing the shipped definition$/m);
  assert.match(broken.stdout, /^quality_metrics: as the shipped pipeline\.yaml declares it$/m);
  const named = await run(['help', 'quality_metrics', '-f', 'pipeline.yaml'], dir);
  assert.is(named.code, 2);
  assert.match(named.stderr, /^pipeline\.yaml:4:/m);
  const bad = await runCli(['--frobnicate'], { cwd: dir });
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /^ephys-make: Unknown option '--frobnicate'/);
  assert.match(bad.stderr, /\ncommands:\n/);
}));

test('hints name the program as the user can type it: npx under npm exec, the name on PATH when it is this program', timed(async () => {
  const dir = tempDir();
  const viaNpx = await runCli(['help', 'doctor'], { cwd: dir, env: { npm_command: 'exec' } });
  assert.match(viaNpx.stdout, /^usage: npx ephys-make doctor \[options\]$/m);
  assert.match(viaNpx.stdout, /^ {2}npx ephys-make doctor$/m);
  const bin = tempDir();
  fs.symlinkSync(binPath, path.join(bin, 'ephys-make'));
  const onPath = await runCli(['help', 'doctor'], { cwd: dir, env: { npm_command: undefined, PATH: `${bin}${path.delimiter}${plain.PATH}` } });
  assert.match(onPath.stdout, /^usage: ephys-make doctor \[options\]$/m);
  const other = tempDir();
  writeFile(other, 'ephys-make', '#!/bin/sh\necho another program\n');
  fs.chmodSync(path.join(other, 'ephys-make'), 0o755);
  const notOurs = await runCli(['help', 'doctor'], { cwd: dir, env: { npm_command: undefined, PATH: `${other}${path.delimiter}${plain.PATH}` } });
  assert.match(notOurs.stdout, new RegExp(`^usage: ${prog} doctor \\[options\\]$`, 'm'));
}));

test.run();
