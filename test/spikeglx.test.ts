import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { tempDir, timed, writeFile } from './rig.js';
import { readSpikeGlxMeta, parseMetaText, interpretSpikeGlxMeta, lfMetaPathFor, metaPathForBin, metaPathToBin, type MetaResult } from '../lib/formats/spikeglx.js';
import { allenProbeType } from '../lib/formats/probeTypes.js';
import { formatDiagnostic } from '../lib/base/diagnostic.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** NP1.0 sites: two per 20 µm row, staggered x 27/59 on even rows and 11/43 on odd rows. */
function np1Site(ch: number) {
  const row = Math.floor(ch / 2), col = ch % 2;
  return { row, col, x: col * 32 + (row % 2 === 0 ? 27 : 11), y: row * 20 };
}

interface MetaOptions {
  type?: number;                 // imDatPrb_type; absent: 3A
  geomMap?: boolean;             // newer SpikeGLX: ~snsGeomMap
  chan0Gain?: number;            // newer SpikeGLX: imChan0apGain
  unused?: number[];             // channels whose shank map 'use' flag is 0
  extra?: Record<string, string>;
  drop?: string[];
}

/** A .ap.meta as SpikeGLX writes it (keys in its order, CRLF line ends, ~ for tables). */
function apMeta(o: MetaOptions = {}): string {
  const np2 = o.type === 21 || o.type === 24;
  const unused = new Set(o.unused ?? (o.type === undefined ? [36, 75, 112, 151, 188, 227, 264, 303, 340, 379] : np2 ? [] : [191]));
  const keys: Array<[string, string]> = [
    ['acqApLfSy', np2 ? '384,0,1' : '384,384,1'],
    ['appVersion', '20201103'],
    ['fileCreateTime', '2020-12-29T14:02:11'],
    ['fileName', 'D:/SC048_122920_ex_g0/SC048_122920_ex_g0_imec0/SC048_122920_ex_g0_t0.imec0.ap.bin'],
    ['fileSizeBytes', '4620000000'],
    ['fileTimeSecs', '200.0'],
    ['imAiRangeMax', np2 ? '0.5' : '0.6'],
    ['imAiRangeMin', np2 ? '-0.5' : '-0.6'],
    ...(o.type !== undefined ? [['imDatPrb_type', String(o.type)] as [string, string]] : []),
    ...(o.type !== undefined ? [['imDatPrb_pn', o.type === 0 ? 'PRB_1_4_0480_1' : o.type === 21 ? 'NP2000' : 'NP2010'] as [string, string]] : []),
    ...(o.type !== undefined ? [['imMaxInt', np2 ? '8192' : '512'] as [string, string]] : []),
    ...(o.chan0Gain !== undefined ? [['imChan0apGain', String(o.chan0Gain)] as [string, string]] : []),
    ['imSampRate', '30000.155'],
    ['nSavedChans', '385'],
    ['snsApLfSy', '384,0,1'],
    ['snsSaveChanSubset', 'all'],
    ['typeThis', 'imec'],
  ];
  let imro: string;
  if (o.type === undefined) imro = '(641251209,3,384)' + range(384).map((c) => `(${c} 0 0 500 250)`).join('');
  else if (o.type === 0) imro = '(0,384)' + range(384).map((c) => `(${c} 0 0 500 250 1)`).join('');
  else imro = `(${o.type},384)` + range(384).map((c) => `(${c} 0 0 ${c})`).join('');
  keys.push(['~imroTbl', imro]);
  if (o.geomMap) {
    const shankOf = (c: number) => (o.type === 24 ? Math.floor(c / 96) : 0);
    const site = (c: number) => (np2 ? { x: (c % 2) * 32 + 27, y: Math.floor((c % 96) / 2) * 15 } : np1Site(c));
    keys.push(['~snsGeomMap', `(${o.type === 24 ? 'NP2010,4,250' : 'PRB_1_4_0480_1,1,0'},70)` + range(384).map((c) => `(${shankOf(c)}:${site(c).x}:${site(c).y}:${unused.has(c) ? 0 : 1})`).join('')]);
  } else {
    keys.push(['~snsShankMap', `(1,2,${np2 ? 640 : 480})` + range(384).map((c) => `(0:${c % 2}:${Math.floor(c / 2)}:${unused.has(c) ? 0 : 1})`).join('')]);
  }
  let lines = keys.filter(([k]) => !(o.drop ?? []).includes(k)).map(([k, v]) => `${k}=${o.extra?.[k] ?? v}`);
  for (const [k, v] of Object.entries(o.extra ?? {})) if (!keys.some(([kk]) => kk === k)) lines.push(`${k}=${v}`);
  return lines.join('\r\n') + '\r\n';
}

const lfMeta = 'imSampRate=2500.00941\r\nnSavedChans=385\r\nsnsApLfSy=0,384,1\r\n';

function writeRun(meta: string, lf?: string, withLfBin = false): string {
  const d = tempDir();
  const p = writeFile(d, 'SC048_122920_ex_g0/SC048_122920_ex_g0_imec0/SC048_122920_ex_g0_t0.imec0.ap.meta', meta);
  if (lf !== undefined) writeFile(path.dirname(p), 'SC048_122920_ex_g0_t0.imec0.lf.meta', lf);
  if (withLfBin) writeFile(path.dirname(p), 'SC048_122920_ex_g0_t0.imec0.lf.bin', '');
  return p;
}

function value<T>(r: { ok: true; value: T } | { ok: false; diagnostics: any[] }): T {
  if (!r.ok) assert.unreachable(r.diagnostics.map((d) => formatDiagnostic(d)).join('\n'));
  return (r as { value: T }).value;
}

/** The first line of each diagnostic, as the user sees it. */
function errorLines(r: MetaResult, cwd: string): string[] {
  assert.not.ok(r.ok, 'expected an error');
  return (r as { diagnostics: any[] }).diagnostics.map((d) => formatDiagnostic(d, cwd).split('\n')[0]);
}

test('NP1.0 from an older meta: imro gain, shank map, .lf.meta and .lf.bin', timed(() => {
  const p = writeRun(apMeta({ type: 0 }), lfMeta, true);
  const m = value(readSpikeGlxMeta(p));
  assert.equal(m.ephysParams, {
    num_channels: 385, sample_rate: 30000.155, probe_type: 'NP1', bit_volts: 2.34375,
    reference_channels: [191], reorder_lfp_channels: false, vertical_site_spacing: 10e-6,
    lfp_sample_rate: 2500.00941, lfp_band_file: p.replace('.ap.meta', '.lf.bin'),
  });
  assert.is(m.probeTypeCode, 0);
  assert.is(m.partNumber, 'PRB_1_4_0480_1');
  assert.is(m.apGain, 500);
  assert.equal(m.channelCounts, { ap: 384, lfp: 0, sync: 1 });
  assert.is(m.siteSource, 'snsShankMap');
  assert.is(m.sites.length, 384);
  assert.equal(m.sites.slice(0, 4).map((s) => [s.xUm, s.yUm]), [[27, 0], [59, 0], [11, 20], [43, 20]]);
  assert.equal(m.sites[383], { shank: 0, xUm: 43, yUm: 3820, used: true });
  assert.equal([m.verticalPitchUm, m.horizontalPitchUm, m.columnCount, m.shankCount], [20, 32, 2, 1]);
  assert.is(m.lfMetaFile, lfMetaPathFor(p));
}));

test('NP1.0 from a newer meta: imChan0apGain and geometry map agree with the old keys', timed(() => {
  const m = value(readSpikeGlxMeta(writeRun(apMeta({ type: 0, geomMap: true, chan0Gain: 500 }))));
  assert.is(m.siteSource, 'snsGeomMap');
  assert.is(m.ephysParams.bit_volts, 2.34375);
  assert.equal(m.sites.slice(0, 4).map((s) => [s.xUm, s.yUm]), [[27, 0], [59, 0], [11, 20], [43, 20]]);
  assert.equal([m.verticalPitchUm, m.horizontalPitchUm, m.columnCount], [20, 32, 2]);
  assert.is(m.ephysParams.lfp_sample_rate, undefined);
  assert.is(m.ephysParams.lfp_band_file, undefined);
}));

test('an .lf.meta without its .lf.bin gives the LFP rate but no LFP file', timed(() => {
  const m = value(readSpikeGlxMeta(writeRun(apMeta({ type: 0 }), lfMeta)));
  assert.is(m.ephysParams.lfp_sample_rate, 2500.00941);
  assert.is(m.ephysParams.lfp_band_file, undefined);
}));

test('imChan0apGain wins over the imro table (a gain of 250 doubles µV per bit)', timed(() => {
  const m = value(readSpikeGlxMeta(writeRun(apMeta({ type: 0, chan0Gain: 250 }))));
  assert.is(m.ephysParams.bit_volts, 4.6875);
}));

test('3A: no probe type key, its ten reference sites, 512 counts by default', timed(() => {
  const m = value(readSpikeGlxMeta(writeRun(apMeta({}))));
  assert.is(m.ephysParams.probe_type, '3A');
  assert.is(m.probeTypeCode, undefined);
  assert.is(m.ephysParams.bit_volts, 2.34375);
  assert.equal(m.ephysParams.reference_channels, [36, 75, 112, 151, 188, 227, 264, 303, 340, 379]);
}));

test('3A reference sites count even when the shank map does not flag them', timed(() => {
  const m = value(readSpikeGlxMeta(writeRun(apMeta({ unused: [5] }))));
  assert.equal(m.ephysParams.reference_channels, [5, 36, 75, 112, 151, 188, 227, 264, 303, 340, 379]);
}));

test('NP2.0 single shank: gain fixed at 80, 14-bit, no fixed reference sites', timed(() => {
  const m = value(readSpikeGlxMeta(writeRun(apMeta({ type: 21 }))));
  assert.is(m.ephysParams.probe_type, 'NP21');
  assert.is(m.apGain, 80);
  assert.is(m.ephysParams.bit_volts, 0.762939453125);
  assert.equal(m.ephysParams.reference_channels, []);
  assert.equal([m.verticalPitchUm, m.horizontalPitchUm, m.columnCount], [15, 32, 2]);
  assert.is(m.ephysParams.vertical_site_spacing, 7.5e-6);
  assert.equal(m.sites.slice(0, 3).map((s) => [s.xUm, s.yUm]), [[27, 0], [59, 0], [27, 15]]);
}));

test('NP2.0 four shanks from a geometry map; a channel flagged unused is a reference channel', timed(() => {
  const m = value(readSpikeGlxMeta(writeRun(apMeta({ type: 24, geomMap: true, unused: [127] }))));
  assert.is(m.ephysParams.probe_type, 'NP24');
  assert.is(m.shankCount, 4);
  assert.equal(m.ephysParams.reference_channels, [127]);
  assert.equal(m.sites[96], { shank: 1, xUm: 27, yUm: 0, used: true });
  assert.equal([m.verticalPitchUm, m.horizontalPitchUm, m.columnCount], [15, 32, 2]);
}));

test('flagged channels and fixed reference sites are merged', timed(() => {
  const m = value(readSpikeGlxMeta(writeRun(apMeta({ type: 0, unused: [10, 191, 300] }))));
  assert.equal(m.ephysParams.reference_channels, [10, 191, 300]);
}));

test('a saved channel subset moves the reference site to its place in the file', timed(() => {
  const meta = apMeta({ type: 0, unused: [], extra: { snsSaveChanSubset: '0:99,150:383,768', nSavedChans: '335', snsApLfSy: '334,0,1' } });
  const m = value(readSpikeGlxMeta(writeRun(meta)));
  assert.equal(m.ephysParams.reference_channels, [141]);
  assert.is(m.ephysParams.num_channels, 335);
}));

test('CatGT output with a single-line meta parses the same (LF line ends, no BOM trouble)', timed(() => {
  const text = '\uFEFF' + apMeta({ type: 0, chan0Gain: 500, geomMap: true }).replace(/\r\n/g, '\n');
  const m = value(interpretSpikeGlxMeta(value(parseMetaText(text, '/x/run_g0_tcat.imec0.ap.meta'))));
  assert.is(m.ephysParams.bit_volts, 2.34375);
}));

test('a value that is not a number names the file, line, column and key', timed(() => {
  const p = writeRun(apMeta({ type: 0, extra: { imSampRate: 'abc' } }));
  const lines = errorLines(readSpikeGlxMeta(p), path.dirname(p));
  const lineNo = apMeta({ type: 0 }).split('\r\n').findIndex((l) => l.startsWith('imSampRate=')) + 1;
  assert.equal(lines, [`SC048_122920_ex_g0_t0.imec0.ap.meta:${lineNo}:12 error: key 'imSampRate' is 'abc', expected a number`]);
}));

test('every problem is reported at once, each naming its key', timed(() => {
  const p = writeRun(apMeta({ type: 0, drop: ['nSavedChans'], extra: { imAiRangeMax: '0.6V', snsApLfSy: '384,0' } }));
  const lines = errorLines(readSpikeGlxMeta(p), '/');
  const rel = p.slice(1);
  assert.equal(lines.map((l) => l.replace(/:\d+:\d+ error/, ' error')), [
    `${rel} error: key 'nSavedChans' is missing`,
    `${rel} error: key 'snsApLfSy' is '384,0', expected 3 comma-separated integers`,
    `${rel} error: key 'imAiRangeMax' is '0.6V', expected a number`,
  ]);
}));

test('a zero imMaxInt is refused rather than dividing by it', timed(() => {
  const p = writeRun(apMeta({ type: 0, extra: { imMaxInt: '0' } }));
  assert.match(errorLines(readSpikeGlxMeta(p), '/')[0], /error: key 'imMaxInt' is 0, expected a positive number$/);
}));

test('channel counts must add up to nSavedChans', timed(() => {
  const p = writeRun(apMeta({ type: 0, extra: { nSavedChans: '384' } }));
  assert.match(errorLines(readSpikeGlxMeta(p), '/')[0], /error: key 'snsApLfSy' counts 384\+0\+1 channels but nSavedChans is 384$/);
}));

test('an integer key with a fraction, a line without =, an empty file, a missing file', timed(() => {
  const p1 = writeRun(apMeta({ type: 0, extra: { nSavedChans: '385.5' } }));
  assert.match(errorLines(readSpikeGlxMeta(p1), '/')[0], /key 'nSavedChans' is '385.5', expected an integer$/);
  const p2 = writeRun('imSampRate=30000\r\ngarbage line\r\n');
  assert.match(errorLines(readSpikeGlxMeta(p2), '/')[0], /:2:1 error: line 2 is not key=value: 'garbage line'$/);
  const p3 = writeRun('\r\n');
  assert.match(errorLines(readSpikeGlxMeta(p3), '/')[0], /ap\.meta error: empty file: no key=value lines$/);
  assert.match(errorLines(readSpikeGlxMeta('/nonexistent/x.ap.meta'), '/')[0], /^nonexistent\/x\.ap\.meta error: cannot read: ENOENT$/);
}));

test('an unknown probe type needs imChan0apGain; with it, it is read', timed(() => {
  const p = writeRun(apMeta({ type: 0, geomMap: true, extra: { imDatPrb_type: '3000' } }));
  assert.match(errorLines(readSpikeGlxMeta(p), '/')[0], /error: key 'imChan0apGain' is missing and the AP gain of probe type NP3000 cannot be read from '~imroTbl'$/);
  const m = value(readSpikeGlxMeta(writeRun(apMeta({ type: 0, geomMap: true, chan0Gain: 100, extra: { imDatPrb_type: '3000' } }))));
  assert.is(m.ephysParams.probe_type, 'NP3000');
  assert.is(m.ephysParams.bit_volts, 11.71875);
}));

test('maps: too few entries, a bad entry, neither map present', timed(() => {
  const short = apMeta({ type: 0 }).replace(/(~snsShankMap=\(1,2,480\))(\([^)]*\)){10}/, '$1');
  assert.match(errorLines(readSpikeGlxMeta(writeRun(short)), '/')[0], /error: key '~snsShankMap' has 374 entries for 384 AP channels$/);
  const bad = apMeta({ type: 0 }).replace('(0:1:2:1)', '(0:1:x:1)');
  assert.match(errorLines(readSpikeGlxMeta(writeRun(bad)), '/')[0], /error: key '~snsShankMap' entry 5 is '\(0:1:x:1\)', expected 4 numbers separated by ':'$/);
  const none = apMeta({ type: 0, drop: ['~snsShankMap'] });
  assert.match(errorLines(readSpikeGlxMeta(writeRun(none)), '/')[0], /error: keys '~snsGeomMap' and '~snsShankMap' are both missing/);
}));

test('a broken .lf.meta is reported against that file', timed(() => {
  const p = writeRun(apMeta({ type: 0 }), 'imSampRate=fast\r\n');
  assert.match(errorLines(readSpikeGlxMeta(p), '/')[0], /imec0\.lf\.meta:1:12 error: key 'imSampRate' is 'fast', expected a number$/);
}));

test('file names: .bin to .meta, .ap.meta to .lf.meta', timed(() => {
  assert.is(metaPathForBin('/d/run_g0_t0.imec0.ap.bin'), '/d/run_g0_t0.imec0.ap.meta');
  assert.is(lfMetaPathFor('/d/run_g0_t0.imec0.ap.meta'), '/d/run_g0_t0.imec0.lf.meta');
  assert.is(lfMetaPathFor('/d/run_g0_t0.nidq.meta'), undefined);
  assert.is(metaPathToBin('/d/run_g0_t0.imec0.lf.meta'), '/d/run_g0_t0.imec0.lf.bin');
}));

test('probe types the Allen kilosort_helper has channel maps for', timed(() => {
  assert.equal(['3A', '3B1', '3B2', 'NP1', 'NP21'].map(allenProbeType), ['3A', '3B1', '3B2', '3B2', undefined]);
}));

test.run();
