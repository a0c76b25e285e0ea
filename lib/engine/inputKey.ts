/**
 * A key for everything a job's input JSON is made of, computed without building it: the stage's
 * part of pipeline.yaml and its schema (once per stage), and per recording its folder, its
 * marker, and the signatures of the files its values are read from (`.meta` or `structure.oebin`,
 * `ephys-make.yaml`). A record made with the same key had the same input JSON, so a no-op run
 * neither reads those files nor builds and hashes thousands of input JSONs.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Pipeline, Stage } from './config.js';
import type { Recording } from './recordings.js';
import { stableStringify, type SetValue } from './inputJson.js';
import { loadStageSchema, schemaFileFor } from './stageSchemas.js';
import { overrideFileName } from './recordingParams.js';
import { metaPathForBin } from '../formats/spikeglx.js';
import { stagesSourceDir } from '../base/paths.js';
import { signatureOfStats } from '../base/signature.js';

const stageKeys = new WeakMap<Stage, string>();
const fileHashes = new Map<string, string>();

function shortHash(text: string): string {
  return crypto.createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

function fileHash(file: string): string {
  let h = fileHashes.get(file);
  if (h === undefined) {
    try { h = shortHash(fs.readFileSync(file, 'utf8')); } catch { h = '-'; }
    fileHashes.set(file, h);
  }
  return h;
}

export function stageInputKey(pipeline: Pipeline, stage: Stage, sets: SetValue[]): string {
  let key = stageKeys.get(stage);
  if (key !== undefined) return key;
  const schemaFile = schemaFileFor(stage);
  const sections = schemaFile ? loadStageSchema(schemaFile).sections : stage.sections ?? Object.keys(pipeline.params);
  const wanted = new Set([...sections, ...Object.keys(stage.params)]);
  const shared = Object.fromEntries(Object.entries(pipeline.params).filter(([k]) => wanted.has(k)));
  key = shortHash(stableStringify({
    stage: stage.name, shared, own: stage.params, layout: pipeline.recordings.layout,
    schema: schemaFile ? fileHash(schemaFile) : null,
    common: fileHash(path.join(stagesSourceDir, 'common.schema.json')),
    sets: sets.filter((s) => s.target === stage.name || s.target === 'params').map((s) => s.text),
  }));
  stageKeys.set(stage, key);
  return key;
}

/** The files a recording's own values may come from, by layout (see layout.ts, recordingParams.ts). */
export function layerFiles(pipeline: Pipeline, rec: Recording): string[] {
  const files = [rec.marker, path.join(rec.dir, overrideFileName)];
  const layout = pipeline.recordings.layout;
  const spikeGlx = layout === 'spikeglx' || (layout === 'auto' && rec.marker.endsWith('.bin'));
  if (spikeGlx) files.push(metaPathForBin(rec.marker));
  else if (layout !== 'none') files.push(path.join(rec.dir, 'structure.oebin'), path.join(path.dirname(rec.dir), 'structure.oebin'));
  return files;
}

/** undefined when not there; 'unreadable' when stat itself fails (the layers then report why). */
function statOrUndefined(f: string): fs.BigIntStats | 'unreadable' | undefined {
  try { return fs.statSync(f, { bigint: true, throwIfNoEntry: false }); } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? undefined : 'unreadable';
  }
}

/** The key, and which of the layer files are there (so the layers need not look again). */
export interface RecordingKey { key: string; exists: (file: string) => boolean }

export function recordingInputKey(pipeline: Pipeline, rec: Recording): RecordingKey {
  const files = layerFiles(pipeline, rec);
  const present = new Set<string>();
  const sigs = files.map((f) => {
    const st = statOrUndefined(f);
    if (st) present.add(f);
    // A folder where a .meta should be is there (and reported by the layers), with no signature.
    if (st === undefined || st === 'unreadable') return st ?? '-';
    return st.isFile() ? signatureOfStats(st) : 'not-a-file';
  });
  const known = new Set(files);
  return {
    key: shortHash([rec.dir, rec.name, rec.root, rec.output, rec.marker, ...sigs].join('\0')),
    exists: (f) => (known.has(f) ? present.has(f) : fs.existsSync(f)),
  };
}
