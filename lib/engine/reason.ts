/** Why a job runs (or why it does not), as a value; `describeReason` is the one place it becomes words. */
import path from 'node:path';
import { formatBytes, hashOf, mtimeNsOf, sizeOf, type Signature } from '../base/signature.js';

export type Reason =
  | { kind: 'forced' }
  | { kind: 'output-missing'; path: string }
  | { kind: 'interrupted'; pid?: number; host?: string; why?: string }
  | { kind: 'failed-before'; exitCode?: number | null; signal?: string | null; why?: string }
  | { kind: 'definition-changed'; field: string; before: string; after: string }
  | { kind: 'params-changed'; key: string; before: unknown; after: unknown; source?: string }
  | { kind: 'input-changed'; path: string; before: Signature | null; after: Signature | null }
  | { kind: 'input-newer'; input: string; output: string }
  | { kind: 'output-changed'; path: string }
  | { kind: 'upstream-ran'; stage: string }
  | { kind: 'temp-needed'; by: string }
  /** state.json (or one record in it) could not be trusted: nothing in it counts. */
  | { kind: 'record-damaged'; file: string; detail: string };

/** Outcomes for jobs that do not run. */
export type Fresh =
  | { kind: 'up-to-date' }
  | { kind: 'adopted' }
  /** Up to date, but its record names files as they were (moved, touched under --checksum): to be rewritten. */
  | { kind: 'confirmed' };

function value(v: unknown): string {
  if (v === undefined) return '(unset)';
  const s = JSON.stringify(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function sigChange(before: Signature | null, after: Signature | null): string {
  if (before === null) return 'appeared';
  if (after === null) return 'deleted';
  const sb = sizeOf(before), sa = sizeOf(after);
  if (sb !== sa) return `size ${formatBytes(sb)} -> ${formatBytes(sa)}`;
  const mb = mtimeNsOf(before), ma = mtimeNsOf(after);
  if (mb !== undefined && ma !== undefined && mb !== ma) return `modified ${new Date(Number(mb / 1000000n)).toISOString()} -> ${new Date(Number(ma / 1000000n)).toISOString()}`;
  return hashOf(before) ? 'content differs' : 'replaced';
}

export function describeReason(r: Reason): string {
  switch (r.kind) {
    case 'forced': return 'forced';
    case 'output-missing': return `output missing: ${path.basename(r.path)}`;
    case 'interrupted': return `last run interrupted${r.pid ? ` (pid ${r.pid}${r.host ? ` on ${r.host}` : ''})` : ''}${r.why ? `: ${r.why}` : ''}`;
    case 'failed-before': return `last run failed${r.signal ? ` (${r.signal})` : r.exitCode != null ? ` (exit ${r.exitCode})` : ''}${r.why ? `: ${r.why}` : ''}`;
    case 'definition-changed': return `definition changed: ${r.field} ${r.before} -> ${r.after}`;
    case 'params-changed': return `params changed: ${r.key} ${value(r.before)} -> ${value(r.after)}${r.source ? ` (from ${r.source})` : ''}`;
    case 'input-changed': return `input changed: ${path.basename(r.path)} (${sigChange(r.before, r.after)})`;
    case 'input-newer': return `input newer than output: ${path.basename(r.input)} is newer than ${path.basename(r.output)}`;
    case 'output-changed': return `output changed since the last run: ${path.basename(r.path)}`;
    case 'upstream-ran': return `upstream reran: ${r.stage}`;
    case 'temp-needed': return `temporary output removed earlier, needed again by ${r.by}`;
    case 'record-damaged': return `record not trusted: ${r.file} ${r.detail}`;
    default: return assertNever(r);
  }
}

/** Why a job cannot run: an input nobody makes, or a file that stops it. */
export function describeBlocked(b: { path: string; why?: string }): string {
  return b.why ?? `input missing: ${b.path} (no stage makes it)`;
}

export function assertNever(x: never): never {
  throw new Error(`internal error: unexpected value ${JSON.stringify(x)}`);
}
