/**
 * How to type ephys-make again, for the hints the tool prints ("see what ran and why: ..."): a
 * hint must work when pasted into the same shell. After `npm install` in a clone `ephys-make` is
 * not on PATH, so a hint says `npx ephys-make` when run through npx, `ephys-make` when that name
 * on PATH is this very program, and else the node command that runs it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Io } from '../base/io.js';
import { binPath } from '../base/paths.js';
import { findProgram } from './findProgram.js';

function realpath(p: string): string | undefined {
  try { return fs.realpathSync(p); } catch { return undefined; }
}

export function invocation(io: Pick<Io, 'env' | 'cwd'>): string {
  // npm exec / npx put the package's bin folder on PATH for the child only: the user's shell lacks it.
  if (io.env.npm_command === 'exec') return 'npx ephys-make';
  const own = realpath(binPath);
  const found = findProgram('ephys-make', io.env);
  if (found && own && realpath(found) === own) return 'ephys-make';
  const rel = path.relative(io.cwd, binPath);
  const shown = !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : binPath;
  return `node ${shellWord(shown)}`;
}

/** A path as a POSIX shell reads it back: quoted only when it needs to be. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
