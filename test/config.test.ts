/** Config errors: exit 2, file:line:column, the key, and what would be valid. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timed, tempDir, writeFile, runCli } from './rig.js';
import { fakeCommand } from './project.js';

async function check(yaml: string, args: string[] = ['all']) {
  const dir = tempDir();
  writeFile(dir, 'data/r1/x.ap.bin', 'x');
  writeFile(dir, 'pipeline.yaml', yaml);
  const r = await runCli(args, { cwd: dir });
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.is(r.stdout, '');
  return r.stderr;
}

const head = 'version: 1\nrecordings:\n  root: ./data\n  match: "**/*.ap.bin"\n';
const stage = (name: string, ins: string[], outs: string[], extra = '') =>
  `  ${name}:\n    run: command\n    command: ${fakeCommand(name, [], [])}\n    inputs: ${JSON.stringify(ins)}\n    outputs: ${JSON.stringify(outs)}\n${extra}`;

test('malformed YAML', timed(async () => {
  const err = await check(head + 'stages:\n  a: [unclosed\n');
  assert.match(err, /^pipeline\.yaml:\d+:\d+ error: invalid YAML: /m);
}));

test('unknown key, with a did-you-mean and the valid keys', timed(async () => {
  const err = await check(head + 'stages:\n' + stage('a', [], ['{output}/a']) + '    retires: 2\n');
  assert.match(err, /^pipeline\.yaml:11:5 error: unknown key 'retires' in key stages\.a \(did you mean 'retries'\?\); valid keys: run, module, command/m);
  assert.match(err, /^  11 \|     retires: 2\n     \|     \^~~~~~~$/m);
}));

test('wrong type names the key and the expected type', timed(async () => {
  const err = await check(head + 'resources: { gpu: one }\nstages:\n' + stage('a', [], ['{output}/a']));
  assert.match(err, /^pipeline\.yaml:5:19 error: key resources\.gpu must be integer, not the string "one"$/m);
}));

test('a value outside an enum lists the valid ones', timed(async () => {
  const err = await check(head + 'stages:\n  a:\n    run: shell\n');
  assert.match(err, /^pipeline\.yaml:7:10 error: key stages\.a\.run must be one of "builtin", "python-module", "command", not the string "shell"$/m);
}));

test('a cycle names each hop', timed(async () => {
  const err = await check(head + 'stages:\n' + stage('a', ['{output}/c'], ['{output}/a']) + stage('b', ['{output}/a'], ['{output}/b']) + stage('c', ['{output}/b'], ['{output}/c']));
  assert.match(err, /error: the stages form a cycle: a -> c -> b -> a/);
  assert.match(err, /note: pipeline\.yaml:9:14: 'a' reads \{output\}\/c, made by 'c'/);
  assert.match(err, /note: pipeline\.yaml:\d+:\d+: 'c' reads \{output\}\/b, made by 'b'/);
  assert.match(err, /note: pipeline\.yaml:\d+:\d+: 'b' reads \{output\}\/a, made by 'a'/);
}));

test('a duplicate producer names both stages', timed(async () => {
  const err = await check(head + 'stages:\n' + stage('a', [], ['{output}/x.dat']) + stage('b', [], ['{output}/x.dat']));
  assert.match(err, /^pipeline\.yaml:15:15 error: '\{output\}\/x\.dat' is an output of two stages: 'a' and 'b' \(each file must have one producer\)$/m);
  assert.match(err, /^  note: pipeline\.yaml:10:15: also made by 'a' here$/m);
}));

test('an unknown `after` stage', timed(async () => {
  const err = await check(head + 'stages:\n' + stage('sort', [], ['{output}/a']) + stage('metrics', [], ['{output}/m'], '    after: [srot]\n'));
  assert.match(err, /^pipeline\.yaml:16:13 error: stage 'metrics' runs after unknown stage 'srot' \(did you mean 'sort'\?\)$/m);
}));

test('unknown targets, bad --set, unknown pools and unterminated quotes are usage/config errors', timed(async () => {
  const ok = head + 'stages:\n' + stage('sort', [], ['{output}/a']);
  assert.match(await check(ok, ['srot']), /unknown target 'srot' \(did you mean 'sort'\?\); targets are 'all' or stage names: sort/);
  assert.match(await check(ok, ['all', '--set', 'nostage.x=1']), /--set nostage\.x=1: 'nostage' is not a stage/);
  assert.match(await check(ok, ['all', '-j', 'zero']), /-j zero: expected a whole number/);
  assert.match(await check(ok, ['--frobnicate']), /Unknown option '--frobnicate'/);
  assert.match(await check(head + 'stages:\n' + stage('a', [], ['{output}/a'], '    resources: { gpu: 1 }\n')), /stage 'a' asks for pool 'gpu', which is not declared under resources; declare it, e\.g\. resources: \{ gpu: 1 \}/);
  assert.match(await check(head + 'stages:\n  a:\n    run: command\n    command: prog "unclosed\n'), /pipeline\.yaml:8:14 error: stages\.a\.command: unterminated double quote at character 6/);
}));

test('a missing pipeline file and an unknown placeholder', timed(async () => {
  const dir = tempDir();
  const r = await runCli(['all'], { cwd: dir });
  assert.is(r.code, 2);
  assert.match(r.stderr, /error: no pipeline file at .*pipeline\.yaml \(give one with -f FILE/);
  const err = await check(head + 'stages:\n  a:\n    run: command\n    command: ["prog", "{recordnig}"]\n    outputs: ["{output}/a"]\n');
  assert.match(err, /stage 'a': unknown placeholder \{recordnig\} in "\{recordnig\}" \(recording r1\); known: \{recording\}, \{name\}/);
}));

test.run();
