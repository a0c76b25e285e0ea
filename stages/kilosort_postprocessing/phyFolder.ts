/**
 * With `ks_postprocessing_params.output_directory` the cleaned arrays go to another folder, which
 * must then open in Phy on its own: every other file of the Kilosort folder is copied beside them.
 * Copies, not hard links: Phy rewrites cluster_*.tsv in place, which through a link would edit
 * Kilosort's folder. Reflinks make the copies free where the file system has them.
 *
 * Raw data and MATLAB workspaces (.dat, .bin, .mat: tens of gigabytes) stay where they are;
 * params.py's relative `dat_path` is rewritten to point at them from the new folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../lib/base/atomicFile.js';

const notCopiedExtensions = new Set(['.dat', '.bin', '.mat']);

export function isCopiedToPhyFolder(name: string): boolean {
  if (name.startsWith('.') || name.endsWith('.partial')) return false;
  return !notCopiedExtensions.has(path.extname(name).toLowerCase());
}

function copyAtomic(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.copy.partial`;
  fs.copyFileSync(from, tmp, fs.constants.COPYFILE_FICLONE);
  fs.renameSync(tmp, to);
}

/** A Python string literal for a path (double quotes; JSON escapes are valid Python escapes here). */
function pyString(s: string): string {
  return JSON.stringify(s);
}

/**
 * params.py with each relative `dat_path` (a string, or a list of strings as newer Phy writes it)
 * made relative to `toDir` instead of `fromDir`. Lines it does not recognise are kept as they are.
 */
export function retargetParamsPy(text: string, fromDir: string, toDir: string): string {
  const retarget = (p: string): string => {
    if (path.isAbsolute(p)) return p;
    return path.relative(toDir, path.resolve(fromDir, p)) || '.';
  };
  const literal = /(r?)(['"])((?:(?!\2).)*)\2/g;
  return text.split('\n').map((line) => {
    const m = /^(\s*dat_path\s*=\s*)(.*)$/.exec(line);
    if (!m) return line;
    return m[1] + m[2].replace(literal, (_all, raw: string, _q: string, body: string) => {
      // Only raw strings or strings without escapes are read literally; others stay untouched.
      if (!raw && body.includes('\\')) return _all;
      return pyString(retarget(body));
    });
  }).join('\n');
}

/**
 * Copy into `outDir` every file of `kilosortDir` that Phy reads and this stage does not write.
 * Returns the names copied.
 */
export function copyPhyFolder(kilosortDir: string, outDir: string, written: ReadonlySet<string>): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const copied: string[] = [];
  for (const e of fs.readdirSync(kilosortDir, { withFileTypes: true })) {
    if (!e.isFile() || written.has(e.name) || !isCopiedToPhyFolder(e.name)) continue;
    const from = path.join(kilosortDir, e.name);
    const to = path.join(outDir, e.name);
    if (e.name === 'params.py') {
      writeFileAtomic(to, retargetParamsPy(fs.readFileSync(from, 'utf8'), kilosortDir, outDir));
    } else {
      copyAtomic(from, to);
    }
    copied.push(e.name);
  }
  return copied;
}
