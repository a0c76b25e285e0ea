import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { tempDir, timed, writeFile } from './rig.js';
import {
  describeFolder, ephysParamsFromOpenEphys, float32Decimal, parseOebin, probeForFolder, readOebin, readSettingsXmlStreams,
} from '../lib/formats/openEphys.js';
import { formatDiagnostic, type Result } from '../lib/base/diagnostic.js';
import { openEphysAcqFor, openEphysFolderNames, referenceChannelsForAcq } from '../lib/formats/probeTypes.js';

const threeA = [36, 75, 112, 151, 188, 227, 264, 303, 340, 379];

/** A continuous entry as the Open Ephys GUI writes it (bit_volts as a float32 printed in full). */
function stream(folder: string, sampleRate: number, n = 384, extra: Record<string, unknown> = {}) {
  return {
    folder_name: `${folder}/`,
    sample_rate: sampleRate,
    source_processor_name: 'Neuropix-PXI',
    source_processor_id: 100,
    num_channels: n,
    channels: Array.from({ length: n }, (_, i) => ({
      channel_name: `CH${i + 1}`, description: 'Neuropixels electrode', identifier: 'genericdata.continuous',
      history: 'Neuropix-PXI', bit_volts: 0.1949999928474426, units: 'uV', source_processor_index: i, recorded_processor_index: i,
    })),
    ...extra,
  };
}

function oebin(streams: unknown[]): string {
  return JSON.stringify({ 'GUI version': '0.5.5', continuous: streams, events: [], spikes: [] }, null, 2);
}

function writeRecording(text: string): string {
  return writeFile(tempDir(), 'Record Node 101/experiment1/recording1/structure.oebin', text);
}

function value<T>(r: Result<T>): T {
  if (!r.ok) assert.unreachable(r.diagnostics.map((d) => formatDiagnostic(d)).join('\n'));
  return (r as { value: T }).value;
}
function errors<T>(r: Result<T>): string[] {
  assert.not.ok(r.ok, 'expected an error');
  return (r as { diagnostics: any[] }).diagnostics.map((d) => formatDiagnostic(d, '/').split('\n')[0]);
}

test('PXI plugin layout: AP .0 and LFP .1 make one probe', timed(() => {
  const p = writeRecording(oebin([stream('Neuropix-PXI-100.0', 30000), stream('Neuropix-PXI-100.1', 2500)]));
  const o = value(readOebin(p));
  assert.is(o.guiVersion, '0.5.5');
  assert.is(o.probes.length, 1);
  const probe = o.probes[0];
  assert.is(probe.ap?.folder, 'Neuropix-PXI-100.0');
  assert.is(probe.lfp?.folder, 'Neuropix-PXI-100.1');
  assert.is(probe.ap?.continuousFile, path.join(path.dirname(p), 'continuous', 'Neuropix-PXI-100.0', 'continuous.dat'));
  assert.equal(value(ephysParamsFromOpenEphys(probe)), {
    sample_rate: 30000, num_channels: 384, bit_volts: 0.195, reference_channels: [191],
    reorder_lfp_channels: false, lfp_sample_rate: 2500,
    lfp_band_file: path.join(path.dirname(p), 'continuous', 'Neuropix-PXI-100.1', 'continuous.dat'),
  });
}));

test('3A layout: the ten 3A reference sites and the LFP reordering', timed(() => {
  const o = value(parseOebin(oebin([stream('Neuropix-3a-100.0', 30000), stream('Neuropix-3a-100.1', 2500)]), '/r/structure.oebin'));
  assert.equal(value(ephysParamsFromOpenEphys(o.probes[0])), {
    sample_rate: 30000, num_channels: 384, bit_volts: 0.195, reference_channels: threeA,
    reorder_lfp_channels: true, lfp_sample_rate: 2500, lfp_band_file: '/r/continuous/Neuropix-3a-100.1/continuous.dat',
  });
}));

test('GUI 0.6 names: -AP / -LFP, two probes, a NI-DAQ stream left aside', timed(() => {
  const o = value(parseOebin(oebin([
    stream('Neuropix-PXI-100.ProbeA-AP', 30000), stream('Neuropix-PXI-100.ProbeA-LFP', 2500),
    stream('Neuropix-PXI-100.ProbeB-AP', 30000.1), stream('Neuropix-PXI-100.ProbeB-LFP', 2500),
    stream('NI-DAQmx-102.PXIe-6341', 30000, 8),
  ]), '/r/structure.oebin'));
  assert.equal(o.probes.map((p) => [p.probe, p.ap?.folder, p.lfp?.folder]), [
    ['Neuropix-PXI-100.ProbeA', 'Neuropix-PXI-100.ProbeA-AP', 'Neuropix-PXI-100.ProbeA-LFP'],
    ['Neuropix-PXI-100.ProbeB', 'Neuropix-PXI-100.ProbeB-AP', 'Neuropix-PXI-100.ProbeB-LFP'],
  ]);
  assert.is(o.streams.find((s) => s.folder.startsWith('NI'))?.kind, 'other');
  assert.is(value(probeForFolder(o, 'Neuropix-PXI-100.ProbeB-AP')).ap?.sampleRateHz, 30000.1);
  assert.equal(errors(probeForFolder(o)), ['r/structure.oebin error: 2 probes (Neuropix-PXI-100.ProbeA, Neuropix-PXI-100.ProbeB): say which AP folder to use']);
  assert.match(errors(probeForFolder(o, 'Neuropix-PXI-100.ProbeC-AP'))[0], /no continuous stream 'Neuropix-PXI-100.ProbeC-AP'; streams: Neuropix-PXI-100.ProbeA-AP, /);
}));

test('older PXI plugin with two probes: .2/.3 is the second pair', timed(() => {
  const o = value(parseOebin(oebin([
    stream('Neuropix-PXI-100.0', 30000), stream('Neuropix-PXI-100.1', 2500),
    stream('Neuropix-PXI-100.2', 30000), stream('Neuropix-PXI-100.3', 2500),
  ]), '/r/structure.oebin'));
  assert.equal(o.probes.map((p) => [p.ap?.folder, p.lfp?.folder]), [
    ['Neuropix-PXI-100.0', 'Neuropix-PXI-100.1'], ['Neuropix-PXI-100.2', 'Neuropix-PXI-100.3'],
  ]);
}));

test('an NP2.0 wide-band stream counts as the AP band; no LFP rate then', timed(() => {
  const o = value(parseOebin(oebin([stream('Neuropix-PXI-100.ProbeA', 30000)]), '/r/structure.oebin'));
  const params = value(ephysParamsFromOpenEphys(value(probeForFolder(o))));
  assert.is(params.sample_rate, 30000);
  assert.is(params.lfp_sample_rate, undefined);
}));

test('folder names alone (Allen extracted layout, no structure.oebin)', timed(() => {
  assert.equal(describeFolder('Neuropix-3a-100.0'), { kind: 'ap', probe: 'Neuropix-3a-100.0', acq: '3a', referenceChannels: threeA });
  assert.equal(describeFolder('Neuropix-3a-100.1/'), { kind: 'lfp', probe: 'Neuropix-3a-100.0', acq: '3a', referenceChannels: threeA });
  assert.equal(describeFolder('Neuropix-PXI-100.1'), { kind: 'lfp', probe: 'Neuropix-PXI-100.0', acq: 'PXI', referenceChannels: [191] });
  assert.equal(describeFolder('Neuropix-PXI-3-probe2-AP'), { kind: 'ap', probe: 'Neuropix-PXI-3-probe2', acq: 'PXI', referenceChannels: [191] });
  assert.equal(describeFolder('Neuropix-3b-100.0').referenceChannels, [191]);
  assert.equal(describeFolder('Rhythm_FPGA-100.0'), { kind: 'other', probe: 'Rhythm_FPGA-100.0', referenceChannels: [] });
}));

test('Allen folder names and acquisition systems by probe type', timed(() => {
  assert.equal([openEphysAcqFor('3A'), openEphysAcqFor('3B2'), openEphysAcqFor('NP1')], ['3a', 'PXI', 'PXI']);
  assert.equal(openEphysFolderNames('3a'), { ap: 'Neuropix-3a-100.0', lfp: 'Neuropix-3a-100.1' });
  assert.equal(openEphysFolderNames('PXI'), { ap: 'Neuropix-PXI-100.0', lfp: 'Neuropix-PXI-100.1' });
  assert.equal(referenceChannelsForAcq('3a'), threeA);
  assert.equal(referenceChannelsForAcq('PXI'), [191]);
}));

test('float32 bit_volts become the decimal the modules are given', timed(() => {
  assert.is(float32Decimal(0.1949999928474426), 0.195);
  assert.is(float32Decimal(0.195), 0.195);
  assert.is(float32Decimal(2.34375), 2.34375);
  assert.is(float32Decimal(0.762939453125), 0.762939453125);
  assert.is(float32Decimal(0.30000001192092896), 0.3);
}));

test('malformed structure.oebin: bad JSON with its place, missing and wrong keys, all at once', timed(() => {
  const broken = writeRecording('{\n  "continuous": [\n    { "folder_name": "x", }\n  ]\n}\n');
  assert.match(errors(readOebin(broken))[0], /structure\.oebin:3:\d+ error: not valid JSON: /);
  assert.equal(errors(parseOebin('{"continuous": {}}', '/r/structure.oebin')), ["r/structure.oebin error: key 'continuous' is not a list"]);
  assert.equal(errors(parseOebin('[]', '/r/structure.oebin')), ["r/structure.oebin error: expected a JSON object with a 'continuous' list"]);
  const bad = oebin([
    { ...stream('Neuropix-PXI-100.0', 30000), sample_rate: '30000' },
    { ...stream('Neuropix-PXI-100.1', 2500, 2), num_channels: 384 },
    { folder_name: 7 },
    { ...stream('Neuropix-PXI-100.2', 30000, 1), channels: [{ bit_volts: 0 }] },
    { ...stream('Neuropix-PXI-100.4', 30000, 1), channels: [] },
  ]);
  assert.equal(errors(parseOebin(bad, '/r/structure.oebin')), [
    `r/structure.oebin error: key 'continuous[0] (Neuropix-PXI-100.0).sample_rate' is "30000", expected a positive number`,
    `r/structure.oebin error: key 'continuous[1] (Neuropix-PXI-100.1).num_channels' is 384 but 2 channels are listed`,
    `r/structure.oebin error: key 'continuous[2].folder_name' is not a string`,
    `r/structure.oebin error: key 'continuous[3] (Neuropix-PXI-100.2).channels[0].bit_volts' is 0, expected a positive number`,
    `r/structure.oebin error: key 'continuous[4] (Neuropix-PXI-100.4).channels' is not a non-empty list`,
  ]);
  assert.equal(errors(readOebin('/nonexistent/structure.oebin')), ['nonexistent/structure.oebin error: cannot read: ENOENT']);
}));

test('two AP streams for one probe is an error', timed(() => {
  const text = oebin([stream('Neuropix-PXI-100.ProbeA-AP', 30000), stream('Neuropix-PXI-100.ProbeA-AP/', 30000)]);
  assert.equal(errors(parseOebin(text, '/r/structure.oebin')), ['r/structure.oebin error: two AP streams for probe Neuropix-PXI-100.ProbeA: Neuropix-PXI-100.ProbeA-AP and Neuropix-PXI-100.ProbeA-AP']);
}));

test('settings.xml streams (GUI 0.6+), none in older files', timed(() => {
  const d = tempDir();
  const xml = writeFile(d, 'settings.xml', `<?xml version="1.0" encoding="UTF-8"?>
<SETTINGS>
  <SIGNALCHAIN>
    <PROCESSOR name="Neuropix-PXI" insertionPoint="0" pluginName="Neuropix-PXI" type="0" index="0" libraryName="Neuropix-PXI" nodeId="100">
      <STREAM name="ProbeA-AP" description="Neuropixels AP band data stream" sample_rate="30000.0" channel_count="384"/>
      <STREAM name="ProbeA-LFP" description="Neuropixels LFP band data stream" sample_rate="2500.0" channel_count="384"/>
    </PROCESSOR>
    <PROCESSOR name="Record Node" nodeId="101">
      <STREAM name="ProbeA-AP" sample_rate="30000.0" channel_count="384"/>
    </PROCESSOR>
  </SIGNALCHAIN>
</SETTINGS>
`);
  assert.equal(value(readSettingsXmlStreams(xml)), [
    { name: 'ProbeA-AP', sampleRateHz: 30000, channelCount: 384 },
    { name: 'ProbeA-LFP', sampleRateHz: 2500, channelCount: 384 },
  ]);
  const old = writeFile(d, 'old/settings.xml', '<SETTINGS><SIGNALCHAIN><PROCESSOR name="Sources/Neuropix-3a"/></SIGNALCHAIN></SETTINGS>');
  assert.equal(value(readSettingsXmlStreams(old)), []);
}));

test.run();
