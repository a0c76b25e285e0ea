/**
 * `npm run bench [-- NAME...]`: runs each benchmark (bench/NAME.ts) in its own process.
 * Every benchmark measures its baseline in the same run and prints ratios against it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const all = fs.readdirSync(here).filter((f) => f.endsWith('.js') && f !== 'run.js' && !f.startsWith('_')).map((f) => f.slice(0, -3)).sort();
const wanted = process.argv.slice(2);
const names = wanted.length ? wanted : all;
let failed = 0;
for (const name of names) {
  if (!all.includes(name)) { console.error(`no benchmark '${name}' (have: ${all.join(', ')})`); failed++; continue; }
  console.log(`\n== bench/${name}`);
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(here, `${name}.js`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
