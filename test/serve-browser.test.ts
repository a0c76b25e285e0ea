/**
 * The page in a real browser (Debian's chromium through playwright-core), on the demo recordings:
 * every view renders with its headings and counts, a job run from the command line shows as
 * running then done without a reload, a failed cell shows its log tail, the rerun action reruns
 * exactly that job, and the report opens from file:// with no network request and the counts of
 * `status`. Screenshots of each view are kept under test-artifacts/screenshots/.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fakeStage, readStageLog, runCli, startCli, tempDir, timed, type CliHandle } from './rig.js';
import { browserTest, isNonBlank, keepScreenshot, launchChromium, servedUrl } from './browser.js';
import type { Page } from 'playwright-core';

const it = browserTest;
let demo = '';
let pipeline = '';
let url = '';
let serveHandle: CliHandle | undefined;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
const rec1 = 'synth01_g0/synth01_g0_imec0';
const rec2 = 'synth02_g0/synth02_g0_imec0';
const cli = (args: string[]) => runCli([...args, '-f', pipeline], { cwd: demo, timeoutMs: 300_000 });
const calls = () => readStageLog(path.join(demo, 'calls.log'));

/** Two command stages after the demo chain: a backup that fails the first time, and a step that waits for a file. */
const extraStages = `
  backup:
    run: command
    command: ["node", ${JSON.stringify(fakeStage)}, "--fail-once", "{output}/.backup-tried", "--in", "{output}/postprocessed/metrics.csv", "--out", "{output}/backup/metrics.csv", "--log", "{root}/../calls.log", "--label", "{name}/backup"]
    inputs: ["{output}/postprocessed/metrics.csv"]
    outputs: ["{output}/backup/metrics.csv"]
  slow_step:
    run: command
    command: ["node", ${JSON.stringify(fakeStage)}, "--wait-for", "{root}/../go", "--in", "{output}/probe_info.json", "--out", "{output}/slow/done.txt", "--log", "{root}/../calls.log", "--label", "{name}/slow_step"]
    inputs: ["{output}/probe_info.json"]
    outputs: ["{output}/slow/done.txt"]
`;

test.before(timed(async () => {
  if (!fs.existsSync('/usr/bin/chromium') && !process.env.EPHYS_MAKE_CHROMIUM) return;
  demo = path.join(tempDir('ephys-make-page-'), 'demo');
  const made = await runCli(['demo', '--out', demo], { cwd: path.dirname(demo), timeoutMs: 600_000 });
  assert.is(made.code, 0, made.stdout + made.stderr);
  pipeline = path.join(demo, 'pipeline.yaml');
  fs.appendFileSync(pipeline, extraStages);
  fs.writeFileSync(path.join(demo, 'go'), '');
  const all = await cli(['all', '-k']);
  assert.is(all.code, 1, 'the backups fail the first time');
  fs.rmSync(path.join(demo, 'go'));
  serveHandle = startCli(['serve', '--port', '0', '-f', pipeline], { cwd: demo, timeoutMs: 900_000 });
  await serveHandle.waitForOutput(/open http:\/\/\S+/);
  url = servedUrl(serveHandle.output());
  browser = await launchChromium();
}, 900_000));

test.after(async () => {
  await browser?.close();
  if (serveHandle) { serveHandle.child.kill('SIGTERM'); await serveHandle.done; }
});

async function openPage(hash = '') {
  const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url + hash);
  await page.waitForSelector('#grid td.c, #table, #view-rec .cards, #slowest-table', { timeout: 30_000 });
  return { page, errors };
}

// The page's CSP forbids eval, which waitForFunction uses while polling; locators and evaluate do not.
async function waitForText(page: Page, selector: string, re: RegExp): Promise<void> {
  await page.locator(selector, { hasText: re }).waitFor({ state: 'attached', timeout: 30_000 });
}

async function waitForImage(page: Page, selector: string): Promise<void> {
  const img = page.locator(selector);
  for (let i = 0; i < 300; i++) {
    if (await img.evaluate((e) => (e as HTMLImageElement).naturalWidth > 0).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${selector} never loaded`);
}

function cell(rec: string, stage: string): string {
  // Rows and stages in the board's order: three recordings, the demo's seven stages, then backup, slow_step.
  const stages = ['depth_estimation', 'median_subtraction', 'builtin_sorter', 'kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics', 'backup', 'slow_step'];
  return `#c${[rec1, rec2, 'synth03_g0/synth03_g0_imec0'].indexOf(rec)}_${stages.indexOf(stage)}`;
}

it('jobs view: the grid with the counts of status, a failed cell shows its log tail', timed(async () => {
  const status = await cli(['status']);
  const countsLine = status.stdout.trim().split('\n').pop()!;
  assert.is(countsLine, '3 recordings: 24 up to date, 3 failed');
  const { page, errors } = await openPage();
  assert.is(await page.textContent('h2'), 'Jobs: 3 recordings × 9 stages');
  await waitForText(page, '#counts', new RegExp(`^${countsLine.replace(/[()]/g, '\\$&')}$`));
  assert.is(await page.locator('#grid td.c.failed').count(), 3);
  assert.ok(await isNonBlank(page, await keepScreenshot(page, 'jobs')));
  await page.click(cell(rec1, 'backup'));
  await waitForText(page, '#log-tail', /failing on purpose/);
  const drawer = await page.textContent('#drawer');
  assert.match(drawer!, /backup · synth01_g0\/synth01_g0_imec0/);
  assert.match(drawer!, /last run failed \(exit 75\)/);
  assert.match(drawer!, /synth01_g0\/synth01_g0_imec0\/\.ephys-make\/backup\/log\.txt/);
  assert.ok(await isNonBlank(page, await keepScreenshot(page, 'jobs-failed-cell')));
  assert.equal(errors, []);
  await page.close();
}, 120_000));

it('a job started from the command line shows as running, then done, without a reload', timed(async () => {
  const { page, errors } = await openPage();
  await page.evaluate('window.notReloaded = true');
  const run = startCli(['slow_step', '--force', 'slow_step', '--dir', `data/${rec1}`, '-f', pipeline], { cwd: demo });
  await page.waitForSelector(`${cell(rec1, 'slow_step')}.running`, { timeout: 30_000 });
  assert.match(await page.textContent('#counts') ?? '', /1 running/);
  await keepScreenshot(page, 'jobs-running');
  fs.writeFileSync(path.join(demo, 'go'), '');
  await page.waitForSelector(`${cell(rec1, 'slow_step')}.done`, { timeout: 30_000 });
  assert.is((await run.done).code, 0);
  assert.ok(await page.evaluate('window.notReloaded === true'), 'the page was not reloaded');
  assert.equal(errors, []);
  await page.close();
}, 120_000));

it('the rerun action reruns exactly that job and the grid updates', timed(async () => {
  const { page, errors } = await openPage();
  const before = calls().length;
  await page.click(cell(rec2, 'backup'));
  await page.click('button[data-act=rerun]');
  await page.waitForSelector(`${cell(rec2, 'backup')}.done`, { timeout: 60_000 });
  await waitForText(page, '#act-msg', /exit 0/);
  const started = calls().slice(before).filter((c) => c.event === 'start').map((c) => c.label);
  assert.equal(started, [`${rec2}/backup`]);
  assert.is(await page.locator('#grid td.c.failed').count(), 2);
  await keepScreenshot(page, 'jobs-after-rerun');
  assert.equal(errors, []);
  await page.close();
}, 120_000));

it('an action without the token is refused', timed(async () => {
  const { origin } = new URL(url);
  const before = calls().length;
  const res = await fetch(`${origin}/api/action`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'rerun', rec: rec1, stage: 'backup' }) });
  assert.is(res.status, 403);
  await new Promise((r) => setTimeout(r, 500));
  assert.is(calls().length, before);
}));

it('recordings, history and one recording\'s results render', timed(async () => {
  const { page, errors } = await openPage('#table');
  await page.waitForSelector('#table tbody tr');
  assert.match(await page.textContent('#view-table h2') ?? '', /^Recordings: 3, \d+ units, \d+ passing$/);
  assert.is(await page.locator('#table tbody tr').count(), 3);
  await page.click('#table th[data-key=units]');
  assert.ok(await isNonBlank(page, await keepScreenshot(page, 'recordings')));
  await page.goto(url + '#history');
  await page.waitForSelector('#slowest-table tbody tr');
  assert.is(await page.textContent('#view-history h2'), 'Run history: slowest stages');
  assert.is(await page.locator('#slowest-table tbody tr').count(), 9);
  assert.ok(await isNonBlank(page, await keepScreenshot(page, 'history')));
  await page.goto(url + `#rec/${encodeURIComponent(rec1)}`);
  await page.waitForSelector('#n-units');
  const units = fs.readFileSync(path.join(demo, 'data', rec1, 'postprocessed', 'metrics.csv'), 'utf8').trim().split('\n').length - 1;
  assert.is(await page.textContent('#n-units'), String(units));
  assert.match(await page.textContent('#gt-well') ?? '', /^\d+ of \d+$/);
  for (const id of ['h-isi_viol', 'h-amplitude_cutoff', 'h-presence_ratio', 'depth-rate', 'depth-amp', 'wf-0', 'gt-acc', 'timeline']) assert.is(await page.locator(`canvas#${id}`).count(), 1, id);
  await waitForImage(page, '#depth-figure');
  assert.ok(await isNonBlank(page, await keepScreenshot(page, 'recording', true)));
  assert.equal(errors, []);
  await page.close();
}, 120_000));

it('report: opens from file:// with no network request and the counts of status', timed(async () => {
  const out = path.join(demo, 'report.html');
  const r = await cli(['report', '-o', out]);
  assert.is(r.code, 0, r.stderr);
  const status = await cli(['status']);
  const countsLine = status.stdout.trim().split('\n').pop()!;
  assert.match(r.stdout, new RegExp(`: ${countsLine.replace(/[()]/g, '\\$&')}\\n$`));
  const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
  const requests: string[] = [];
  page.on('request', (q) => requests.push(q.url()));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const fileUrl = pathToFileURL(out).href;
  await page.goto(fileUrl);
  await page.waitForSelector('#grid td.c');
  assert.is(await page.textContent('#counts'), countsLine);
  await keepScreenshot(page, 'report-jobs');
  await page.click(cell(rec1, 'backup'));
  await waitForText(page, '#log-tail', /failing on purpose/);
  assert.is(await page.locator('#drawer button.act').count(), 0, 'no actions in a report');
  await page.goto(`${fileUrl}#rec/${encodeURIComponent(rec1)}`);
  await page.waitForSelector('#n-units');
  await waitForImage(page, '#depth-figure');
  assert.ok(await isNonBlank(page, await keepScreenshot(page, 'report-recording', true)));
  await page.goto(`${fileUrl}#table`);
  await page.waitForSelector('#table tbody tr');
  assert.equal(requests.filter((u) => u.split('#')[0] !== fileUrl && !u.startsWith('data:')), [], 'no request but the file itself');
  assert.equal(errors, []);
  await page.close();
}, 180_000));

test.run();
