/** Paths below a folder, by plain string work: planning asks this of every file of every recording. */
import path from 'node:path';

const sepCode = path.sep.charCodeAt(0);

/** `p` relative to `dir` with '/' separators, when `p` lies strictly below `dir` (both normalised); else undefined. */
export function relativeInside(p: string, dir: string): string | undefined {
  if (!dir || p.length <= dir.length || p.charCodeAt(dir.length) !== sepCode || !p.startsWith(dir)) return undefined;
  const rel = p.slice(dir.length + 1);
  return path.sep === '/' ? rel : rel.split(path.sep).join('/');
}
