/**
 * `node dist/bench/backup.js [GB]`: the built-in backup stage against `cp` followed by `sha256sum`
 * of the source and of the copy, on the same file in the same run (target: faster than that pair).
 *
 * The pair is weaker than the stage: cp leaves its copy in the page cache and sha256sum then reads
 * the copy from there, so it checks memory, not the disk. A second baseline gives it the same
 * guarantees as the stage (cp, sync, sha256sum of the source, the copy read with O_DIRECT by dd).
 * The stage runs once with each of its hashes. The source is in the page cache for every run alike.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const hostPath = path.resolve(here, '..', 'lib', 'builtin', 'host.js');
const sizeGB = Number(process.argv[2] ?? 2);
const rounds = 2;

function makeSource(file: string, bytes: number): void {
  const block = Buffer.alloc(64 << 20);
  let x = 0x9e3779b9;
  for (let i = 0; i < block.length; i += 4) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; block.writeUInt32LE(x >>> 0, i); }
  const fd = fs.openSync(file, 'w');
  for (let off = 0; off < bytes; off += block.length) {
    block.writeUInt32LE(off / block.length, 0); // no two blocks alike
    fs.writeSync(fd, block, 0, Math.min(block.length, bytes - off), off);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

function run(label: string, argv: string[], shell = false): number {
  const t0 = process.hrtime.bigint();
  const r = shell ? spawnSync('bash', ['-c', argv[0]], { stdio: ['ignore', 'ignore', 'inherit'] }) : spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status})`);
  return seconds;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-backup-'));
try {
  const rec = path.join(work, 'data', 'rec');
  fs.mkdirSync(rec, { recursive: true });
  const src = path.join(rec, 'r_g0_t0.imec0.ap.bin');
  const bytes = Math.round(sizeGB * 1e9 / 4096) * 4096;
  makeSource(src, bytes);
  const dest = path.join(work, 'backup');
  const copy = path.join(work, 'cp-copy.bin');
  const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;
  const pair = `cp ${q(src)} ${q(copy)} && sha256sum ${q(src)} ${q(copy)}`;
  const strict = `cp ${q(src)} ${q(copy)} && sync ${q(copy)} && sha256sum ${q(src)} && dd if=${q(copy)} iflag=direct bs=8M status=none | sha256sum`;
  const stage = (hash: string) => {
    const input = path.join(work, `input-${hash}.json`);
    fs.writeFileSync(input, JSON.stringify({ backup_params: { to: [dest], from: rec, layout_root: path.join(work, 'data'), allow_same_device: true, hash } }));
    return [process.execPath, hostPath, 'backup', '--input_json', input, '--output_json', path.join(work, 'out.json')];
  };
  const best: Record<string, number> = {};
  const note = (k: string, s: number) => { best[k] = Math.min(best[k] ?? Infinity, s); };
  fs.readFileSync(src, { encoding: null }).length; // warm the page cache (the source is read from memory in every run)
  for (let i = 0; i < rounds; i++) {
    fs.rmSync(copy, { force: true });
    note('cp + sha256sum source + sha256sum copy', run('pair', [pair], true));
    fs.rmSync(copy, { force: true });
    note('cp + sync + sha256sum source + sha256sum of the copy read with O_DIRECT', run('strict', [strict], true));
    fs.rmSync(copy, { force: true });
    for (const hash of ['xxh3-64', 'sha256']) {
      fs.rmSync(dest, { recursive: true, force: true });
      fs.mkdirSync(dest);
      note(`backup stage (${hash}: durable copy, read back from disk)`, run(`backup ${hash}`, stage(hash)));
    }
  }
  const gb = bytes / 1e9;
  const base = best['cp + sha256sum source + sha256sum copy'];
  console.log(`${gb.toFixed(2)} GB file, best of ${rounds} rounds (machine shared with other work: numbers vary)`);
  for (const [k, s] of Object.entries(best)) {
    console.log(`  ${k.padEnd(74)} ${s.toFixed(2).padStart(6)} s  ${(gb / s).toFixed(2)} GB/s  ${(base / s).toFixed(2)}x the pair`);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
