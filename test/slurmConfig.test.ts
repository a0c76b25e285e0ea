/** pipeline.yaml's executor and slurm keys: mistakes are config errors with their place, exit 2. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timed, tempDir, writeFile, runCli } from './rig.js';
import { fakeCommand } from './project.js';

async function check(yaml: string, args: string[] = ['all', '-n']) {
  const dir = tempDir();
  writeFile(dir, 'data/r1/x.ap.bin', 'x');
  writeFile(dir, 'pipeline.yaml', yaml);
  const r = await runCli(args, { cwd: dir });
  return r;
}

const head = 'version: 1\nrecordings:\n  root: ./data\n  match: "**/*.ap.bin"\n';
const stage = (extra = '') => `stages:\n  a:\n    run: command\n    command: ${fakeCommand('a', [], [])}\n    outputs: ["{output}/a"]\n${extra}`;

test('a valid slurm setup is accepted', timed(async () => {
  const r = await check(head + 'executor: slurm\nslurm: { partition: normal, account: lab01, qos: short, extra_args: "--constraint=ssd" }\nresources: { gpu: 1 }\n'
    + stage('    resources: { gpu: 1 }\n    slurm: { cpus: 4, mem: 16G, time: "1-00:00:00", partition: gpu, extra_args: ["--exclusive"] }\n'));
  assert.is(r.code, 0, r.stderr);
}));

test('an unknown key in a stage\'s slurm settings, with a did-you-mean', timed(async () => {
  const r = await check(head + stage('    slurm: { cpu: 4, mem: 16G }\n'));
  assert.is(r.code, 2);
  assert.match(r.stderr, /^pipeline\.yaml:10:14 error: unknown key 'cpu' in key stages\.a\.slurm \(did you mean 'cpus'\?\); valid keys: cpus, mem, time, gpus, partition, extra_args$/m);
}));

test('an unknown key in the shared slurm settings, and an executor that does not exist', timed(async () => {
  const r = await check(head + 'executor: slrum\nslurm:\n  partiton: gpu\n' + stage());
  assert.is(r.code, 2);
  assert.match(r.stderr, /^pipeline\.yaml:5:11 error: key executor must be one of "local", "slurm", not the string "slrum"$/m);
  assert.match(r.stderr, /^pipeline\.yaml:7:3 error: unknown key 'partiton' in key slurm \(did you mean 'partition'\?\); valid keys: partition, account, qos, extra_args$/m);
}));

test('a time limit or memory size sbatch would refuse', timed(async () => {
  const r = await check(head + stage('    slurm:\n      time: 2h\n      mem: 16GB\n'));
  assert.is(r.code, 2);
  assert.match(r.stderr, /^pipeline\.yaml:11:13 error: stages\.a\.slurm\.time must be a time limit as sbatch takes it \(MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, e\.g\. 4:00:00\), not "2h"$/m);
  assert.match(r.stderr, /^pipeline\.yaml:12:12 error: stages\.a\.slurm\.mem must be megabytes or a whole number with K, M, G or T \(e\.g\. 16G, 4000\), not "16GB"$/m);
}));

test.run();
