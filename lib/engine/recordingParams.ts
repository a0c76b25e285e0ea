/**
 * Values a recording brings itself: read from its SpikeGLX `.meta` / Open Ephys `structure.oebin`
 * (layout), then from an `ephys-make.yaml` beside it. They are layered over pipeline.yaml.
 */
import path from 'node:path';
import type { Pipeline } from './config.js';
import type { Recording } from './recordings.js';
import type { Layer } from './inputJson.js';
import { readYamlFile, spanAt } from './yamlSource.js';
import { isPlainObject } from './inputJson.js';
import { fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';
import { layoutLayer } from './layout.js';

export const overrideFileName = 'ephys-make.yaml';

/** `exists`: whether a file is there, answered from what the plan already looked at (inputKey.ts). */
export function recordingLayers(pipeline: Pipeline, rec: Recording, exists: (file: string) => boolean): Result<Layer[]> {
  const layers: Layer[] = [];
  const diags: Diagnostic[] = [];
  const fromLayout = layoutLayer(pipeline.recordings.layout, rec, exists);
  if (!fromLayout.ok) diags.push(...fromLayout.diagnostics);
  else if (fromLayout.value) layers.push(fromLayout.value);
  const file = path.join(rec.dir, overrideFileName);
  if (exists(file)) {
    const { source, diagnostics } = readYamlFile(file);
    if (!source) diags.push(...diagnostics);
    else {
      const v = source.value as any;
      const bad = (segs: string[], message: string) => diags.push({ ...spanAt(source, segs, true), message });
      if (!isPlainObject(v)) bad([], `${overrideFileName} must be a mapping with 'params' and/or 'stages'`);
      else {
        for (const k of Object.keys(v)) if (k !== 'params' && k !== 'stages') bad([k], `unknown key '${k}' in ${overrideFileName}; valid keys: params, stages`);
        if (v.params !== undefined && !isSections(v.params)) bad(['params'], `params in ${overrideFileName} must map section names to mappings`);
        if (v.stages !== undefined) {
          if (!isPlainObject(v.stages)) bad(['stages'], `stages in ${overrideFileName} must be a mapping of stage names`);
          else for (const [s, sv] of Object.entries<any>(v.stages)) {
            if (!pipeline.stageByName.has(s)) bad(['stages', s], `unknown stage '${s}' in ${overrideFileName}; stages: ${[...pipeline.stageByName.keys()].join(', ')}`);
            else if (!isPlainObject(sv) || Object.keys(sv).some((k) => k !== 'params') || (sv.params !== undefined && !isSections(sv.params))) bad(['stages', s], `stages.${s} in ${overrideFileName} takes only 'params' (sections of the input JSON)`);
          }
        }
        if (!diags.length) {
          const stages = Object.fromEntries(Object.entries<any>(v.stages ?? {}).map(([s, sv]) => [s, sv.params ?? {}]));
          layers.push({ source: file, params: v.params, stages });
        }
      }
    }
  }
  return diags.length ? fail(...diags) : ok(layers);
}

function isSections(v: unknown): boolean {
  return isPlainObject(v) && Object.values(v).every(isPlainObject);
}
