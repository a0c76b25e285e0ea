/**
 * Values a recording's acquisition files determine (channel count, sample rates, µV per bit,
 * reference channels, the LFP file), read from SpikeGLX `.meta` or Open Ephys `structure.oebin`
 * and layered over pipeline.yaml's params.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from './config.js';
import type { Recording } from './recordings.js';
import type { Layer } from './inputJson.js';
import { metaPathForBin, readSpikeGlxMeta } from '../formats/spikeglx.js';
import { allenProbeType } from '../formats/probeTypes.js';
import { ephysParamsFromOpenEphys, probeForFolder, readOebin } from '../formats/openEphys.js';
import { geometryFromSites, np1Geometry } from '../formats/probeGeometry.js';
import { fail, ok, type Result } from '../base/diagnostic.js';

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function spikeGlx(rec: Recording, required: boolean, exists: (file: string) => boolean): Result<Layer | undefined> {
  const meta = metaPathForBin(rec.marker);
  if (!exists(meta)) {
    return required ? fail({ file: rec.marker, message: `layout spikeglx: no ${path.basename(meta)} beside ${path.basename(rec.marker)} (SpikeGLX writes it when the file is closed)` }) : ok(undefined);
  }
  const m = readSpikeGlxMeta(meta);
  if (!m.ok) return m;
  // A copy still under way (or cut short) is shorter than SpikeGLX wrote it: never process it.
  const written = m.value.fileSize;
  const size = fs.statSync(rec.marker, { throwIfNoEntry: false })?.size;
  if (written && size !== undefined && size < written.bytes) {
    return fail({
      file: meta, line: written.line, column: written.column, length: written.length, recording: rec.name,
      message: `${path.basename(rec.marker)} is ${size} bytes but its .meta says fileSizeBytes=${written.bytes}: an incomplete copy? recording ${rec.name} is not processed until the file is complete`,
    });
  }
  // The Allen kilosort_helper loads neuropixPhase<probe_type>_kilosortChanMap.mat, which exists
  // for 3A/3B1/3B2 only: NP1.0 is named 3B2 there; other types keep SpikeGLX's name.
  const values = defined({ ...m.value.ephysParams });
  values.probe_type = allenProbeType(m.value.ephysParams.probe_type) ?? m.value.ephysParams.probe_type;
  // Only stages whose schema takes probe_geometry (kilosort4) get it.
  const probe_geometry = geometryFromSites(m.value.sites, `${path.basename(meta)} (~${m.value.siteSource})`);
  return ok({ source: meta, params: { ephys_params: values, probe_geometry } });
}

function openEphys(rec: Recording, required: boolean, exists: (file: string) => boolean): Result<Layer | undefined> {
  // structure.oebin sits in the recording folder (the one holding continuous/), or one level up.
  const candidates = [path.join(rec.dir, 'structure.oebin'), path.join(path.dirname(rec.dir), 'structure.oebin')];
  const oebinPath = candidates.find((p) => exists(p));
  if (!oebinPath) {
    if (required) return fail({ file: rec.dir, recording: rec.name, message: `layout openephys: no structure.oebin in ${rec.dir}` });
    // Under auto an Open Ephys recording without its oebin has no known channel count or rates:
    // running it on defaults (384 channels) would record a wrong result as done.
    if (path.basename(rec.marker) === 'continuous.dat') {
      return fail({ file: rec.marker, recording: rec.name, message: `layout auto: ${path.basename(rec.marker)} is an Open Ephys recording but there is no structure.oebin in ${rec.dir} or its parent, so its channel count, sample rates and µV per bit are unknown; copy the structure.oebin beside it, or set recordings.layout: none and give ephys_params yourself` });
    }
    return ok(undefined);
  }
  const oebin = readOebin(oebinPath);
  if (!oebin.ok) return oebin;
  const folder = path.basename(path.dirname(rec.marker));
  const probe = probeForFolder(oebin.value, oebin.value.probes.length > 1 ? folder : undefined);
  if (!probe.ok) return probe;
  const params = ephysParamsFromOpenEphys(probe.value);
  if (!params.ok) return params;
  const values = defined({ ...params.value });
  // The oebin names files relative to its own folder.
  if (typeof values.lfp_band_file === 'string') values.lfp_band_file = path.resolve(path.dirname(oebinPath), values.lfp_band_file);
  // The oebin has no site positions; 384 AP channels are a Neuropixels 1.0 probe (3A, 3B, 1.0).
  const probe_geometry = params.value.num_channels === 384
    ? np1Geometry(384, params.value.reference_channels ?? [], `standard Neuropixels 1.0 layout (384 channels in ${path.basename(oebinPath)})`)
    : undefined;
  return ok({ source: oebinPath, params: probe_geometry ? { ephys_params: values, probe_geometry } : { ephys_params: values } as Layer['params'] });
}

/** `exists`: whether a file is there, asked once per plan and file (see recordingLayers). */
export function layoutLayer(layout: Layout, rec: Recording, exists: (file: string) => boolean): Result<Layer | undefined> {
  switch (layout) {
    case 'none': return ok(undefined);
    case 'spikeglx': return spikeGlx(rec, true, exists);
    case 'openephys': return openEphys(rec, true, exists);
    // A SpikeGLX marker is a .bin; an Open Ephys one is continuous.dat.
    case 'auto': return rec.marker.endsWith('.bin') ? spikeGlx(rec, false, exists) : openEphys(rec, false, exists);
  }
}
