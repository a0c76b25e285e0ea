/**
 * Small but real-looking recordings for tests: an NP1.0 SpikeGLX probe folder (.ap/.lf with
 * .meta) or an Open Ephys PXI recording (continuous/ with structure.oebin), and the shipped
 * pipeline.yaml pointed at them.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot, tempDir, writeFile } from './rig.js';
import { readSpikeGlxMeta } from '../lib/formats/spikeglx.js';
import { ephysParamsFromOpenEphys, readOebin } from '../lib/formats/openEphys.js';

type Json = Record<string, any>;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** An NP1.0 .ap.meta as an older SpikeGLX writes it (gain in the imro table, shank map only). */
export const np1ApMeta = [
  'acqApLfSy=384,384,1', 'appVersion=20190919', 'fileSizeBytes=770', 'imAiRangeMax=0.6', 'imAiRangeMin=-0.6',
  'imDatPrb_pn=PRB_1_4_0480_1', 'imDatPrb_type=0', 'imMaxInt=512', 'imSampRate=30000.155', 'nSavedChans=385',
  'snsApLfSy=384,0,1', 'snsSaveChanSubset=all', 'typeThis=imec',
  '~imroTbl=(0,384)' + range(384).map((c) => `(${c} 0 0 500 250 1)`).join(''),
  '~snsShankMap=(1,2,480)' + range(384).map((c) => `(0:${c % 2}:${Math.floor(c / 2)}:${c === 191 ? 0 : 1})`).join(''),
].join('\r\n') + '\r\n';
export const np1LfMeta = 'imSampRate=2500.00941\r\nnSavedChans=385\r\nsnsApLfSy=0,384,1\r\n';

/** structure.oebin of the Open Ephys PXI plugin: AP .0 and LFP .1, bit_volts as float32. */
export function oebin(): string {
  const stream = (folder: string, rate: number) => ({
    folder_name: `${folder}/`, sample_rate: rate, source_processor_name: 'Neuropix-PXI', source_processor_id: 100, num_channels: 384,
    channels: range(384).map((i) => ({ channel_name: `CH${i + 1}`, bit_volts: 0.1949999928474426, units: 'uV' })),
  });
  return JSON.stringify({ 'GUI version': '0.4.6', continuous: [stream('Neuropix-PXI-100.0', 30000), stream('Neuropix-PXI-100.1', 2500)] }, null, 2);
}

export type Layout = 'openephys' | 'spikeglx';

export interface Lab {
  dir: string;
  /** The recording's folder, which is also its output folder (E in the Allen scripts). */
  rec: string;
  ap: string;
  lfp: string;
  pipeline: string;
}

/**
 * `withValues`: what the recording readers get from the .meta / structure.oebin is also written to
 * the recording's ephys-make.yaml, so the comparison does not depend on `layout: auto` (tested apart).
 */
export function makeLab(layout: Layout, withValues = false, sorter: 'kilosort2' | 'kilosort4' = 'kilosort2'): Lab {
  const dir = tempDir('ephys-make-golden-');
  let rec: string, ap: string, lfp: string;
  if (layout === 'openephys') {
    rec = path.join(dir, 'data', '715093703_386129_20180627_probeC_sorted');
    ap = writeFile(rec, 'continuous/Neuropix-PXI-100.0/continuous.dat', Buffer.alloc(384 * 2 * 10));
    lfp = writeFile(rec, 'continuous/Neuropix-PXI-100.1/continuous.dat', Buffer.alloc(384 * 2));
    writeFile(rec, 'structure.oebin', oebin());
  } else {
    rec = path.join(dir, 'data', 'SC048_122920_ex_g0', 'SC048_122920_ex_g0_imec0');
    ap = writeFile(rec, 'SC048_122920_ex_g0_t0.imec0.ap.bin', Buffer.alloc(385 * 2 * 10));
    writeFile(rec, 'SC048_122920_ex_g0_t0.imec0.ap.meta', np1ApMeta);
    lfp = writeFile(rec, 'SC048_122920_ex_g0_t0.imec0.lf.bin', Buffer.alloc(385 * 2));
    writeFile(rec, 'SC048_122920_ex_g0_t0.imec0.lf.meta', np1LfMeta);
  }
  if (withValues) writeFile(rec, 'ephys-make.yaml', YAML.stringify({ params: { ephys_params: readRecordingValues(layout, rec) } }));
  const doc = YAML.parseDocument(fs.readFileSync(path.join(repoRoot, 'pipeline.yaml'), 'utf8'));
  // The Open Ephys alternatives the shipped file gives in comments: the match, and the Allen
  // median-subtraction program (384 channels) instead of the built-in.
  if (layout === 'openephys') {
    doc.setIn(['recordings', 'match'], '**/continuous/Neuropix-*-100.0/continuous.dat');
    doc.setIn(['stages', 'median_subtraction'], doc.createNode({
      run: 'python-module',
      inputs: ['{marker}', '{output}/probe_info.json'],
      outputs: ['{output}/continuous_ms.dat', '{output}/residuals.dat'],
      in_place: { ap_band_file: '{output}/continuous_ms.dat' },
      appends_to: ['{output}/residuals.dat'],
      space: '1.1x ap_band_file',
      params: { median_subtraction_params: {
        median_subtraction_executable: '/opt/SpikeBandMedianSubtraction/Builds/LinuxMakefile/build/SpikeBandMedianSubtraction',
        median_subtraction_repo: '/opt/SpikeBandMedianSubtraction',
      } },
    }));
  }
  // These labs run the Allen chain, whose sorter is Kilosort 2 (kilosort_helper): the alternative
  // the shipped file gives in a comment. Its default, Kilosort 4, is tested in kilosort4.test.ts.
  if (sorter === 'kilosort2') doc.setIn(['stages', 'kilosort'], doc.createNode(kilosort2Alternative()));
  const pipeline = writeFile(dir, 'pipeline.yaml', doc.toString());
  return { dir, rec, ap, lfp, pipeline };
}

/** The commented Kilosort 2 stage of the shipped pipeline.yaml, uncommented. */
export function kilosort2Alternative(): Json {
  const text = fs.readFileSync(path.join(repoRoot, 'pipeline.yaml'), 'utf8').split('\n');
  const start = text.findIndex((l) => l === '  # kilosort:');
  if (start < 0) throw new Error('pipeline.yaml: no commented Kilosort 2 stage');
  const block: string[] = [];
  for (const l of text.slice(start + 1)) {
    if (!l.startsWith('  #   ')) break;
    block.push(l.slice(6));
  }
  return YAML.parse(block.join('\n'));
}

/** What the recording readers return for a fixture. */
export function readRecordingValues(layout: Layout, rec: string): Json {
  if (layout === 'openephys') {
    const o = readOebin(path.join(rec, 'structure.oebin'));
    if (!o.ok) throw new Error(JSON.stringify(o.diagnostics));
    const p = ephysParamsFromOpenEphys(o.value.probes[0]);
    if (!p.ok) throw new Error(JSON.stringify(p.diagnostics));
    return { ...p.value };
  }
  const m = readSpikeGlxMeta(path.join(rec, 'SC048_122920_ex_g0_t0.imec0.ap.meta'));
  if (!m.ok) throw new Error(JSON.stringify(m.diagnostics));
  return { ...m.value.ephysParams };
}

