/**
 * Runs every compiled test file in its own process (two at a time, each under a time limit) and
 * ends with the one line CI reads: `N passed, N failed, N skipped`.
 */
import fg from 'fast-glob';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 15 * 60_000);
const filter = process.argv.slice(2);

interface FileResult { file: string; passed: number; failed: number; skipped: number; seconds: number; output: string }

function runFile(file: string): Promise<FileResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => { output += `\n(test file killed after ${fileTimeoutMs} ms)\n`; child.kill('SIGKILL'); }, fileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
      // uvu's total already leaves out skipped tests.
      let failed = total - passed;
      // A file that crashed before uvu printed its summary still counts as a failure.
      if (code !== 0 && failed === 0) failed = 1;
      resolve({ file, passed, failed, skipped, seconds: (Date.now() - started) / 1000, output });
    });
  });
}

async function main(): Promise<number> {
  let files = fg.sync('**/*.test.js', { cwd: here, absolute: true }).sort();
  // Matched on the name below the test folder: a checkout whose path holds the word runs only what was asked.
  if (filter.length) files = files.filter((f) => filter.some((x) => path.relative(here, f).includes(x)));
  const parallel = Math.max(1, Math.min(Number(process.env.TEST_JOBS ?? os.availableParallelism()), 2));
  const results: FileResult[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < files.length) {
      const r = await runFile(files[next++]);
      results.push(r);
      const name = path.relative(here, r.file);
      process.stdout.write(`${r.failed ? 'FAIL' : 'ok  '} ${name}: ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''} (${r.seconds.toFixed(1)} s)\n`);
      if (r.failed) process.stdout.write(r.output.split('\n').map((l) => `    ${l}`).join('\n') + '\n');
      // Why each test was skipped (printed by skipUnless in rig.ts), so a skip is never silent.
      for (const line of r.output.split('\n')) if (line.startsWith('skipped: ')) process.stdout.write(`     ${line}\n`);
    }
  }));
  const passed = results.reduce((s, r) => s + r.passed, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  const skipped = results.reduce((s, r) => s + r.skipped, 0);
  process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  return failed ? 1 : 0;
}

main().then((code) => { process.exitCode = code; });
