/**
 * `ephys-make serve` over HTTP: the token, what files it sends and refuses (traversal, symlinks
 * out of the root, files that are not records or declared outputs, huge files), the warning for
 * `--host`, and live events for a job another process runs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, tempDir, waitUntil, type CliHandle } from './rig.js';
import { makeProject, type Project } from './project.js';
import { servedUrl } from './browser.js';

const started: CliHandle[] = [];
async function startServe(p: Project, extra: string[] = []): Promise<{ base: string; token: string; h: CliHandle }> {
  const h = p.start(['serve', '--port', '0', ...extra]);
  started.push(h);
  await h.waitForOutput(/open http:\/\/\S+/);
  const url = new URL(servedUrl(h.output()));
  return { base: `${url.protocol}//${url.host}`, token: url.searchParams.get('token')!, h };
}
test.after.each(async () => {
  for (const h of started.splice(0)) { h.child.kill('SIGTERM'); await h.done; }
});

async function get(base: string, route: string, token?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${route}${token ? `${route.includes('?') ? '&' : '?'}token=${token}` : ''}`);
  return { status: res.status, text: await res.text() };
}

test('every request needs the token; an action without it is refused and runs nothing', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all'])).code, 0);
  const { base, token } = await startServe(p);
  assert.is((await get(base, '/')).status, 403);
  assert.is((await get(base, '/api/board')).status, 403);
  assert.is((await get(base, '/api/board', 'wrong-token-of-the-same-size!')).status, 403);
  const before = p.starts();
  const noToken = await fetch(`${base}/api/action`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'force', rec: 'r1', stage: 'a' }) });
  assert.is(noToken.status, 403);
  assert.match(await noToken.text(), /missing or wrong token/);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(p.starts(), before, 'the refused action started no job');
  const board = await get(base, '/api/board', token);
  assert.is(board.status, 200);
  assert.equal(JSON.parse(board.text).counts, { 'up to date': 4, stale: 0, failed: 0, running: 0, queued: 0, cancelled: 0, blocked: 0 });
}));

test('files: declared outputs and records are served; traversal, the recording\'s own files and other paths are refused', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all'])).code, 0);
  fs.writeFileSync(path.join(p.dir, 'secret.txt'), 'not for the page\n');
  const { base, token } = await startServe(p);
  const file = (rel: string) => get(base, `/api/file?path=${encodeURIComponent(rel)}`, token);
  const out = await file('r1/a.out');
  assert.is(out.status, 200);
  assert.match(out.text, /^r1\/a\n/);
  assert.is((await file('r1/.ephys-make/state.json')).status, 200);
  assert.is((await file(path.join(p.root, 'r1/.ephys-make/runs.jsonl'))).status, 200, 'an absolute path inside the records');
  for (const bad of ['../secret.txt', 'r1/../../secret.txt', 'r1/.ephys-make/../../../secret.txt', '/etc/passwd', '../pipeline.yaml', 'r1/probe.ap.bin']) {
    const r = await file(bad);
    assert.is(r.status, 403, `${bad} -> ${r.status} ${r.text}`);
  }
  assert.match((await file('r1/probe.ap.bin')).text, /not a record or a declared output/);
}));

test('files: symlinks out of the root are refused, in the records and as a declared output', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all'])).code, 0);
  const outside = path.join(tempDir(), 'outside.txt');
  fs.writeFileSync(outside, 'outside the root\n');
  fs.symlinkSync(outside, path.join(p.rec('r1'), '.ephys-make', 'link.txt'));
  fs.rmSync(path.join(p.rec('r1'), 'd.out'));
  fs.symlinkSync(outside, path.join(p.rec('r1'), 'd.out'));
  const { base, token } = await startServe(p);
  for (const rel of ['r1/.ephys-make/link.txt', 'r1/d.out']) {
    const r = await get(base, `/api/file?path=${encodeURIComponent(rel)}`, token);
    assert.is(r.status, 403, `${rel}: ${r.text}`);
    assert.match(r.text, /outside the recording's output and the root/);
    assert.not.match(r.text, /outside the root\n/, 'the target\'s content is not sent');
  }
}));

test('files: a huge declared output is refused, a long log is sent as its tail', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all'])).code, 0);
  // Sparse: 40 GiB on paper, nothing on disk.
  fs.truncateSync(path.join(p.rec('r1'), 'c.out'), 40 * 1024 ** 3);
  const log = path.join(p.rec('r1'), '.ephys-make', 'b', 'log.txt');
  fs.appendFileSync(log, Array.from({ length: 40000 }, (_, i) => `line ${i} of a chatty module\n`).join('') + 'the last line\n');
  const { base, token } = await startServe(p);
  const big = await get(base, `/api/file?path=${encodeURIComponent('r1/c.out')}`, token);
  assert.is(big.status, 413);
  assert.match(big.text, /40\.0 GiB, over the 32\.0 MiB the page serves/);
  const tail = await get(base, '/api/log?rec=r1&stage=b', token);
  assert.is(tail.status, 200);
  const t = JSON.parse(tail.text);
  assert.ok(t.cut);
  assert.ok(t.text.length <= 64 * 1024, `tail of ${t.text.length} chars`);
  assert.match(t.text, /the last line\n$/);
  assert.match(t.text, /^line \d+ of a chatty module\n/, 'the tail starts at a whole line');
  assert.is(t.path, 'r1/.ephys-make/b/log.txt');
}));

test('--host prints a warning; 127.0.0.1 by default', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  const local = await startServe(p);
  assert.match(local.base, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.not.match(local.h.output(), /warning/);
  const open = await startServe(p, ['--host', '0.0.0.0']);
  assert.match(open.h.output(), /warning: --host 0\.0\.0\.0: the page is reachable from other machines/);
}));

test('a job run by another process reaches the event stream as running, then done', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'], stages: `
  slow:
    run: command
    command: ["node", ${JSON.stringify(path.resolve('test/fixtures/fake-stage.mjs'))}, "--wait-for", "{root}/../go", "--out", "{output}/slow.out"]
    inputs: ["{marker}"]
    outputs: ["{output}/slow.out"]
` });
  const { base, token } = await startServe(p);
  const res = await fetch(`${base}/api/events?token=${token}`);
  const reader = res.body!.getReader();
  let text = '';
  const pump = (async () => { for (;;) { const { value, done } = await reader.read(); if (done) return; text += Buffer.from(value).toString(); } })();
  await waitUntil(() => text.includes('event: board'), 'the board');
  const run = p.start(['slow', '--dir', 'data/r2']);
  await waitUntil(() => /event: cells\ndata: .*"rec":"r2","stage":"slow","cell":\{"s":"running"/.test(text), 'r2 slow running', 30_000);
  assert.not.match(text, /"rec":"r1"/, 'nothing is sent for a recording that did not change');
  fs.writeFileSync(path.join(p.dir, 'go'), '');
  await waitUntil(() => /"rec":"r2","stage":"slow","cell":\{"s":"done"/.test(text), 'r2 slow done', 30_000);
  assert.is((await run.done).code, 0);
  await reader.cancel();
  await pump.catch(() => {});
}));

test('watch --serve: the page beside a watch shows a new recording\'s jobs through to done', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  fs.writeFileSync(path.join(p.dir, 'pipeline.yaml'), fs.readFileSync(path.join(p.dir, 'pipeline.yaml'), 'utf8').replace('match: "**/*.ap.bin"', 'match: "**/*.ap.bin"\n  ready: { settle_seconds: 0.2 }'));
  const h = p.start(['watch', '--serve', '--port', '0']);
  started.push(h);
  await h.waitForOutput(/open http:\/\/\S+/);
  const url = new URL(servedUrl(h.output()));
  const base = `${url.protocol}//${url.host}`, token = url.searchParams.get('token')!;
  await h.waitForOutput(/4 jobs? done|done +r1 d/);
  const board = JSON.parse((await get(base, '/api/board', token)).text);
  assert.equal(board.recordings.map((r: any) => r.name), ['r1']);
  fs.mkdirSync(path.join(p.root, 'r2'));
  fs.writeFileSync(path.join(p.root, 'r2', 'probe.ap.bin'), 'raw data of r2\n');
  await waitUntil(() => fs.existsSync(path.join(p.rec('r2'), 'd.out')) && fs.existsSync(path.join(p.rec('r2'), 'c.out')), 'r2 processed', 60_000);
  let last: any;
  const deadline = Date.now() + 30_000;
  for (;;) {
    last = JSON.parse((await get(base, '/api/board', token)).text);
    const r2 = last.recordings.find((r: any) => r.name === 'r2');
    if (r2 && r2.cells.every((c: any) => c.s === 'done')) break;
    if (Date.now() > deadline) throw new Error(`r2 not done on the page: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.is(last.counts['up to date'], 8);
}));

test.run();
