/**
 * Built-in `backup`: the Allen scripts' copy steps (copy_raw_data, copy_processed_data), verified.
 *
 * For each file of `from` (a recording's raw files, or a stage's outputs): stream it once, hashing
 * as it is read and writing `<copy>.backup.partial` on every backup root that lacks it; make the
 * partials durable, read each back from its disk (lib/base/readBack.ts) and compare; only then
 * rename it into place and append its manifest line. A rerun skips files whose manifest line still
 * matches (source and copy unchanged since). A destination file that exists without a matching
 * line is compared, adopted when identical, and otherwise reported and left alone: nothing is
 * ever overwritten, and nothing of the source is ever written, moved or deleted.
 */
import fs from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { StageError, type BuiltinStage } from '../../lib/builtin/stage.js';
import { hashFromDisk } from '../../lib/base/readBack.js';
import { appendEntry, readManifest, type Manifest, type ManifestEntry } from '../../lib/formats/backupManifest.js';
import { readBackupParams, type BackupParams } from './params.js';
import { streamToPartials } from './streamCopy.js';
import { destinationsFor, type Destination } from './destinations.js';
import { formatBytes } from '../../lib/base/signature.js';

interface Target { dest: Destination; path: string; partial: string; kind: 'copy' | 'check' }
interface FilePlan { rel: string; source: string; stat: fs.BigIntStats; targets: Target[]; skipped: Destination[] }

function entryMatches(e: ManifestEntry | undefined, source: fs.BigIntStats, copy: fs.BigIntStats | undefined): boolean {
  return !!e && !!copy && copy.isFile() && e.size === Number(source.size) && e.source_mtime_ns === String(source.mtimeNs)
    && Number(copy.size) === e.size && String(copy.mtimeNs) === e.copy_mtime_ns;
}

function statOrUndefined(p: string): fs.BigIntStats | undefined {
  try { return fs.lstatSync(p, { bigint: true }); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function listFiles(p: BackupParams): string[] {
  const patterns = p.files.map((f) => {
    if (!path.isAbsolute(f)) return f;
    const rel = path.relative(p.from, f);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new StageError(`backup_params.files: ${f} is not inside 'from' (${p.from})`);
    return fg.escapePath(rel.split(path.sep).join('/'));
  });
  const found = fg.sync(patterns, { cwd: p.from, ignore: p.exclude, onlyFiles: true, dot: true, unique: true });
  return found.sort();
}

function syncDir(dir: string): void {
  try { const fd = fs.openSync(dir, 'r'); try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); } } catch { /* not supported there */ }
}

function removeQuietly(p: string): void {
  try { fs.rmSync(p, { force: true }); } catch { /* nothing we can do; the next run replaces it */ }
}

function isFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

/** Move a verified partial to its final name without ever replacing a file that appeared meanwhile. */
function publish(partial: string, final: string): 'done' | 'exists' {
  try {
    fs.linkSync(partial, final);
    fs.rmSync(partial);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'exists';
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
    // File systems without hard links (exFAT, some SMB shares): check, then rename.
    if (fs.existsSync(final)) return 'exists';
    fs.renameSync(partial, final);
  }
  syncDir(path.dirname(final));
  return 'done';
}

export const stage: BuiltinStage = {
  version: '1',
  async run(input, ctx) {
    const p = readBackupParams(input);
    const fromStat = statOrUndefined(p.from);
    if (!fromStat?.isDirectory()) throw new StageError(`backup_params.from: ${p.from} is not a folder`);
    const dests = destinationsFor(p, fromStat);
    const files = listFiles(p);
    if (!files.length) throw new StageError(`nothing to back up: no file under ${p.from} matches ${JSON.stringify(p.files)} (exclude ${JSON.stringify(p.exclude)})`);
    const manifests = new Map<Destination, Manifest>(dests.map((d) => [d, readManifest(d.manifestPath)]));

    // Plan every file first: the bytes to write per destination are checked against its free space.
    const plans: FilePlan[] = [];
    for (const rel of files) {
      const source = path.join(p.from, rel);
      const st = fs.statSync(source, { bigint: true });
      const plan: FilePlan = { rel, source, stat: st, targets: [], skipped: [] };
      for (const d of dests) {
        if (!p.allowSameDevice && st.dev === d.device) {
          throw new StageError(`backup root ${d.root} is on the same device as ${source}: a copy on the same disk is lost with it. Give a root on another drive (is it mounted?), or set backup_params.allow_same_device: true`);
        }
        const target = path.join(d.folder, rel);
        const copy = statOrUndefined(target);
        if (entryMatches(manifests.get(d)!.entries.get(rel), st, copy)) plan.skipped.push(d);
        else plan.targets.push({ dest: d, path: target, partial: `${target}.backup.partial`, kind: copy ? 'check' : 'copy' });
      }
      plans.push(plan);
    }
    for (const d of dests) {
      const need = plans.reduce((n, f) => n + f.targets.filter((t) => t.dest === d && t.kind === 'copy').reduce((m) => m + Number(f.stat.size), 0), 0);
      if (!need) continue;
      const free = freeBytes(d.folder);
      if (free !== undefined && free < need) {
        throw new StageError(`backup root ${d.root} is too full: this backup needs ${formatBytes(need)} there, ${formatBytes(free)} free. Nothing was copied; free space (or add a drive) and rerun`);
      }
    }

    const totalBytes = plans.reduce((n, f) => n + (f.targets.length ? Number(f.stat.size) * (1 + f.targets.length) : 0), 0);
    let doneBytes = 0;
    const onBytes = (n: number) => { doneBytes += n; ctx.progress(doneBytes, totalBytes, 'bytes'); };
    const problems: string[] = [];
    const counts = { copied: 0, adopted: 0, skipped: 0, bytesCopied: 0 };
    const readBackModes = new Map<Destination, Set<'direct' | 'cached'>>(dests.map((d) => [d, new Set()]));
    const started = Date.now();

    for (const f of plans) {
      if (ctx.signal.aborted) throw new StageError('stopped');
      if (!f.targets.length) {
        counts.skipped++;
        ctx.log(`skipped  ${f.rel}: manifest matches on ${f.skipped.map((d) => d.root).join(', ')}`);
        continue;
      }
      const copies = f.targets.filter((t) => t.kind === 'copy');
      for (const t of copies) { fs.mkdirSync(path.dirname(t.path), { recursive: true }); removeQuietly(t.partial); }
      let streamed;
      try {
        streamed = await streamToPartials(f.source, copies.map((t) => t.partial), p.hash, { mode: Number(f.stat.mode) & 0o666, signal: ctx.signal, onBytes });
      } catch (err) {
        for (const t of copies) removeQuietly(t.partial);
        if (ctx.signal.aborted) throw new StageError('stopped');
        if (isFull(err)) {
          throw new StageError(`backup root ${copies.map((t) => t.dest.root).join(' or ')} is full (${(err as NodeJS.ErrnoException).code}) while copying ${f.rel}; its partial copy was removed and no manifest names it. Free space and rerun: files already verified are skipped`);
        }
        throw new StageError(`cannot copy ${f.source}: ${(err as Error).message}`);
      }
      const after = fs.statSync(f.source, { bigint: true });
      if (after.size !== f.stat.size || after.mtimeNs !== f.stat.mtimeNs) {
        for (const t of copies) removeQuietly(t.partial);
        throw new StageError(`${f.source} changed while it was being copied (is it still being written?); nothing of it was kept. Rerun once it is complete`);
      }
      // Read back every destination at once: they are usually different disks.
      await Promise.all(f.targets.map(async (t) => {
        const file = t.kind === 'copy' ? t.partial : t.path;
        let back;
        try {
          back = await hashFromDisk(file, p.hash, { signal: ctx.signal, onBytes });
        } catch (err) {
          if (t.kind === 'copy') removeQuietly(t.partial);
          problems.push(`${t.path}: cannot read it back: ${(err as Error).message}`);
          return;
        }
        readBackModes.get(t.dest)!.add(back.direct ? 'direct' : 'cached');
        const same = back.digest === streamed.digest && back.sizeBytes === streamed.sizeBytes;
        if (t.kind === 'check') {
          if (!same) {
            problems.push(`${t.path} exists and differs from ${f.source} (${formatBytes(back.sizeBytes)} ${back.digest}, source ${formatBytes(streamed.sizeBytes)} ${streamed.digest}); it was left as it is, never overwritten. Move it away if the source is the right one, then rerun`);
            return;
          }
          ctx.log(`verified ${f.rel} already on ${t.dest.root} (identical; added to the manifest)`);
          counts.adopted++;
        } else {
          if (!same) {
            removeQuietly(t.partial);
            problems.push(`${t.path}: the copy read back from disk differs from what was written (${back.digest}, expected ${streamed.digest}); removed. Check that drive`);
            return;
          }
          const atime = Number(f.stat.atimeNs / 1000n) / 1e6, mtime = Number(f.stat.mtimeNs / 1000n) / 1e6;
          fs.utimesSync(t.partial, atime, mtime);
          if (publish(t.partial, t.path) === 'exists') {
            removeQuietly(t.partial);
            problems.push(`${t.path} appeared while it was being copied; left as it is. Rerun to compare it`);
            return;
          }
          counts.bytesCopied += streamed.sizeBytes;
        }
        const copyStat = fs.statSync(t.path, { bigint: true });
        appendEntry(t.dest.manifestPath, {
          file: f.rel, size: streamed.sizeBytes, hash: streamed.digest, time: new Date().toISOString(),
          source_mtime_ns: String(f.stat.mtimeNs), copy_mtime_ns: String(copyStat.mtimeNs),
        });
      }));
      if (copies.length) {
        counts.copied++;
        ctx.log(`copied   ${f.rel} (${formatBytes(streamed.sizeBytes)}, ${streamed.digest}) to ${copies.map((t) => t.dest.root).join(', ')}; read back and compared`);
      }
    }
    if (problems.length) throw new StageError(`backup incomplete:\n  ${problems.join('\n  ')}`);
    const seconds = (Date.now() - started) / 1000;
    return {
      files: plans.length,
      copied: counts.copied,
      skipped: counts.skipped,
      verified_existing: counts.adopted,
      bytes_copied: counts.bytesCopied,
      hash: p.hash,
      copy_rate_bytes_per_s: seconds > 0 ? Math.round(counts.bytesCopied / seconds) : null,
      destinations: dests.map((d) => ({
        root: d.root, folder: d.folder, manifest: d.manifestPath,
        read_back: [...readBackModes.get(d)!].sort().join('+') || 'none needed',
      })),
    };
  },
};

function freeBytes(folder: string): number | undefined {
  let dir = folder;
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  try { const s = fs.statfsSync(dir); return s.bavail * s.bsize; } catch { return undefined; }
}
