/** backup_params of the input JSON, checked (the schema has filled the defaults). */
import path from 'node:path';
import { inputSection } from '../../lib/builtin/stageInput.js';
import { StageError, type InputJson } from '../../lib/builtin/stage.js';
import { defaultManifestName, isManifestName } from '../../lib/formats/backupManifest.js';
import { isHashAlgorithm, type HashAlgorithm } from '../../lib/base/contentHash.js';

export interface BackupParams {
  to: string[];
  from: string;
  layoutRoot: string;
  files: string[];
  exclude: string[];
  allowSameDevice: boolean;
  manifest: string;
  hash: HashAlgorithm;
}

function strings(v: unknown, key: string, def?: string[]): string[] {
  const list = v ?? def;
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || x === '')) {
    throw new StageError(`input JSON: backup_params.${key} must be a list of paths or globs${v === undefined ? ' (missing)' : `, got ${JSON.stringify(v)}`}`);
  }
  return list;
}

function absolute(v: unknown, key: string): string {
  if (typeof v !== 'string' || !path.isAbsolute(v)) {
    throw new StageError(`input JSON: backup_params.${key} must be an absolute path${v === undefined ? ' (missing)' : `, got ${JSON.stringify(v)}`}`);
  }
  return path.resolve(v);
}

export function readBackupParams(input: InputJson): BackupParams {
  const s = inputSection(input, 'backup_params');
  const to = strings(s.to, 'to');
  if (!to.length) throw new StageError('input JSON: backup_params.to is empty; name at least one backup root');
  const manifest = s.manifest ?? defaultManifestName;
  if (typeof manifest !== 'string' || manifest.includes('/') || !isManifestName(manifest)) {
    throw new StageError(`input JSON: backup_params.manifest must be a file name ending in 'backup-manifest.jsonl', got ${JSON.stringify(manifest)}`);
  }
  const hash = s.hash ?? 'xxh3-64';
  if (typeof hash !== 'string' || !isHashAlgorithm(hash)) throw new StageError(`input JSON: backup_params.hash must be 'xxh3-64' or 'sha256', got ${JSON.stringify(hash)}`);
  return {
    to: to.map((t, i) => absolute(t, `to[${i}]`)),
    from: absolute(s.from, 'from'),
    layoutRoot: absolute(s.layout_root, 'layout_root'),
    files: strings(s.files, 'files', ['**']),
    exclude: strings(s.exclude, 'exclude', ['.ephys-make/**', '**/*.partial']),
    allowSameDevice: s.allow_same_device === true,
    manifest,
    hash,
  };
}
