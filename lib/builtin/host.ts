/**
 * Child-process entry of a built-in stage, invoked like an Allen module:
 *   node dist/lib/builtin/host.js STAGE --input_json IN --output_json OUT
 * Progress goes as JSON lines to fd 3 when the parent opened it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stagesBuildDir } from '../base/paths.js';
import { writeFileAtomic } from '../base/atomicFile.js';
import { StageError, type BuiltinContext, type BuiltinStage } from './stage.js';

export async function loadBuiltin(stageName: string): Promise<BuiltinStage | undefined> {
  const file = path.join(stagesBuildDir, stageName, 'index.js');
  if (!fs.existsSync(file)) return undefined;
  const mod = await import(pathToFileURL(file).href);
  return mod.stage as BuiltinStage;
}

function openProgress(): (line: string) => void {
  try {
    fs.fstatSync(3);
    return (line) => { try { fs.writeSync(3, line + '\n'); } catch { /* parent went away */ } };
  } catch {
    return () => {};
  }
}

async function main(argv: string[]): Promise<number> {
  const [stageName, ...rest] = argv;
  const arg = (name: string) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : undefined; };
  const inputPath = arg('--input_json');
  const outputPath = arg('--output_json');
  if (!stageName || !inputPath) {
    process.stderr.write('usage: host.js STAGE --input_json IN [--output_json OUT]\n');
    return 2;
  }
  const stage = await loadBuiltin(stageName);
  if (!stage) {
    process.stderr.write(`no built-in implementation of stage '${stageName}'\n`);
    return 2;
  }
  const input = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const emit = openProgress();
  let lastEmit = 0;
  const controller = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => { controller.abort(); setTimeout(() => process.exit(143), 2000).unref(); });
  }
  const ctx: BuiltinContext = {
    signal: controller.signal,
    log: (message) => process.stdout.write(message + '\n'),
    progress: (done, total, unit = 'items') => {
      const now = Date.now();
      if (now - lastEmit < 200 && done < total) return;
      lastEmit = now;
      emit(JSON.stringify({ done, total, unit }));
    },
  };
  const started = process.hrtime.bigint();
  try {
    const output = await stage.run(input, ctx);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const result = { execution_time: seconds, ...output, input_parameters: input };
    const text = JSON.stringify(result, null, 2) + '\n';
    if (outputPath) writeFileAtomic(outputPath, text); else process.stdout.write(text);
    return 0;
  } catch (err) {
    if (err instanceof StageError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`internal error: ${err?.stack ?? err}\n`); process.exitCode = 1; },
);
