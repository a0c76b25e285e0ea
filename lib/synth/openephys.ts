/**
 * The Open Ephys binary layout the Allen pipeline reads: `<run>/continuous/Neuropix-PXI-100.0/`
 * (AP) and `Neuropix-PXI-100.1/` (LFP), each with `continuous.dat` and `timestamps.npy`, and
 * `<run>/structure.oebin` describing them.
 */
import path from 'node:path';

export const apFolder = 'Neuropix-PXI-100.0';
export const lfFolder = 'Neuropix-PXI-100.1';

export interface OpenEphysPaths {
  recordingDir: string;
  apDat: string;
  apTimestamps: string;
  lfDat: string;
  lfTimestamps: string;
  oebin: string;
}

export function openEphysPaths(dataDir: string, run: string): OpenEphysPaths {
  const dir = path.join(dataDir, run);
  const cont = path.join(dir, 'continuous');
  return {
    recordingDir: dir,
    apDat: path.join(cont, apFolder, 'continuous.dat'),
    apTimestamps: path.join(cont, apFolder, 'timestamps.npy'),
    lfDat: path.join(cont, lfFolder, 'continuous.dat'),
    lfTimestamps: path.join(cont, lfFolder, 'timestamps.npy'),
    oebin: path.join(dir, 'structure.oebin'),
  };
}

interface Stream { folder: string; sampleRateHz: number; bitVolts: number; band: 'AP' | 'LFP' }

function continuousEntry(s: Stream, channels: number): Record<string, unknown> {
  return {
    folder_name: `${s.folder}/`,
    sample_rate: s.sampleRateHz,
    source_processor_name: 'Neuropix-PXI',
    source_processor_id: 100,
    source_processor_sub_idx: s.band === 'AP' ? 0 : 1,
    recorded_processor: 'Neuropix-PXI',
    recorded_processor_id: 100,
    num_channels: channels,
    channels: Array.from({ length: channels }, (_, c) => ({
      channel_name: `CH${c + 1}`,
      description: `Neuropixels ${s.band} channel`,
      identifier: 'genericdata.continuous',
      history: 'Neuropix-PXI',
      bit_volts: s.bitVolts,
      units: 'uV',
      source_processor_index: c,
      recorded_processor_index: c,
    })),
  };
}

export function structureOebin(channels: number, streams: Stream[]): string {
  const doc = {
    'GUI version': '0.5.5',
    continuous: streams.map((s) => continuousEntry(s, channels)),
    events: [],
    spikes: [],
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
