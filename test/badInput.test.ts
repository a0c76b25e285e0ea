/**
 * Bad input, case by case: a pipeline.yaml, a command line, a recording's files, a Kilosort
 * folder or a record that is wrong in one way. Each case runs the real bin/ephys-make and must
 * end with the expected exit status, a message naming the file, key or place, and no stack trace.
 * Cases are independent: they run a few at a time, and each is reported as its own test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { binPath, checkoutUnreadableBy, filesUnder, poolDir, tempDir, testUnless, timed, writeFile } from './rig.js';
import { fakeCommand } from './project.js';
import { spikeGlxMeta } from '../lib/synth/spikeglx.js';
import { structureOebin } from '../lib/synth/openephys.js';
import { writeNpy, type NpyArray } from '../lib/formats/npy.js';

interface Case {
  name: string;
  /** Files of the project, relative to its folder; `pipeline.yaml` defaults to `basicPipeline`. */
  files?: Record<string, string | Uint8Array>;
  setup?: (dir: string) => void;
  args: string[];
  code: number;
  /** Each must match the output (stdout and stderr together). */
  says: Array<RegExp | string>;
  /** Run as this user when the tests run as root (root may write anywhere); others are refused anyway. */
  uid?: number;
  /** Close our end of its stdout at once, as `| head` does. */
  closeStdout?: boolean;
  /** Run `ephys-make all` first (it must succeed), then do this to what it left. */
  damage?: (dir: string) => void;
  /** Folders (relative) that stay the root's when the case runs as another user. */
  rootOwned?: string[];
  /** What must hold on disk afterwards: files (relative) that must exist, and that must not. */
  exists?: string[];
  absent?: string[];
}

const head = 'version: 1\nrecordings:\n  root: ./data\n  match: "**/*.ap.bin"\n';
const stageA = `  a:\n    run: command\n    command: ${fakeCommand('{name}/a', ['{marker}'], ['{output}/a.out'])}\n    inputs: ["{marker}"]\n    outputs: ["{output}/a.out"]\n`;
const stageB = `  b:\n    run: command\n    command: ${fakeCommand('{name}/b', ['{output}/a.out'], ['{output}/b.out'])}\n    inputs: ["{output}/a.out"]\n    outputs: ["{output}/b.out"]\n    params:\n      b_params: { threshold: 4 }\n`;
const basicPipeline = `${head}resources: { gpu: 1 }\nparams:\n  shared: { sample_rate: 30000 }\nstages:\n${stageA}${stageB}`;
const raw = { 'data/r1/probe.ap.bin': 'raw data of r1\n', 'data/r2/probe.ap.bin': 'raw data of r2\n' };

/** A pipeline with `extra` as one more stage (or keys of stage b when it starts with 4 spaces). */
const withStage = (extra: string) => `${head}stages:\n${stageA}${extra}`;

// SpikeGLX recordings: a real-looking .ap.bin and .meta (8 channels + sync, 100 samples).
const glxBin = (samples = 100) => new Uint8Array(samples * 9 * 2);
const glxMeta = (samples = 100) => spikeGlxMeta({ band: 'ap', channels: 8, sampleRateHz: 30000, fileSizeBytes: samples * 9 * 2, fileName: 'x.ap.bin', serial: 1, createTime: '2024-01-15T10:00:00', notes: 'test' });
const glx = (name: string, meta = glxMeta(), bin = glxBin()) => ({ [`data/${name}/${name}_t0.imec0.ap.bin`]: bin, [`data/${name}/${name}_t0.imec0.ap.meta`]: meta });
const glxPipeline = `version: 1\nrecordings:\n  root: ./data\n  match: "**/*.ap.bin"\n  layout: auto\nstages:\n${stageA}`;
const oePipeline = `version: 1\nrecordings:\n  root: ./data\n  match: "**/continuous/Neuropix-*-100.0/continuous.dat"\n  layout: auto\nstages:\n${stageA}`;
const oeDat = 'data/s1/continuous/Neuropix-PXI-100.0/continuous.dat';
const oebin = structureOebin(8, [{ folder: 'Neuropix-PXI-100.0', sampleRateHz: 30000, bitVolts: 0.195, band: 'AP' }]);

// Kilosort folders, read by the built-in quality_metrics.
const ksPipeline = `version: 1
recordings:
  root: ./sorted
  match: "**/spike_times.npy"
  layout: none
params:
  directories: { kilosort_output_directory: "{recording}" }
  ephys_params: { sample_rate: 30000, num_channels: 4, bit_volts: 0.195, ap_band_file: "{recording}/continuous.dat" }
stages:
  quality_metrics:
    run: builtin
    inputs: ["{recording}/spike_times.npy", "{recording}/amplitudes.npy"]
    outputs: ["{recording}/metrics.csv"]
    params:
      quality_metrics_params: { quality_metrics_output_file: "{recording}/metrics.csv", include_pc_metrics: false }
`;
function ksFolder(overrides: Record<string, NpyArray | null> = {}): (dir: string) => void {
  return (dir) => {
    const ks = path.join(dir, 'sorted', 'k1');
    const templates = new Float32Array(3 * 23 * 4);
    for (let t = 0; t < 3; t++) templates.set([1, 2, 3, 4], t * 92 + 84);
    const files: Record<string, NpyArray> = {
      'spike_times.npy': { dtype: 'uint64', shape: [6], data: BigUint64Array.from([30n, 60n, 90n, 300n, 3000n, 29000n]) },
      'spike_clusters.npy': { dtype: 'uint32', shape: [6], data: Uint32Array.from([0, 2, 0, 1, 2, 1]) },
      'spike_templates.npy': { dtype: 'uint32', shape: [6], data: Uint32Array.from([0, 2, 0, 1, 2, 1]) },
      'amplitudes.npy': { dtype: 'float64', shape: [6], data: Float64Array.from([10, 20, 11, 30, 21, 31]) },
      'templates.npy': { dtype: 'float32', shape: [3, 23, 4], data: templates },
      'whitening_mat_inv.npy': { dtype: 'float64', shape: [4, 4], data: Float64Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]) },
      'channel_map.npy': { dtype: 'int32', shape: [4], data: Int32Array.from([0, 1, 2, 3]) },
    };
    fs.mkdirSync(ks, { recursive: true });
    for (const [name, arr] of Object.entries({ ...files, ...overrides })) if (arr) writeNpy(path.join(ks, name), arr);
    fs.writeFileSync(path.join(ks, 'params.py'), "dat_path = 'continuous.dat'\nn_channels_dat = 4\ndtype = 'int16'\noffset = 0\nsample_rate = 30000.\n");
    fs.writeFileSync(path.join(ks, 'continuous.dat'), new Uint8Array(30000 * 4 * 2));
  };
}
const ksCase = (name: string, overrides: Record<string, NpyArray | null>, says: Array<RegExp | string>): Case =>
  ({ name: `kilosort: ${name}`, files: { 'pipeline.yaml': ksPipeline }, setup: ksFolder(overrides), args: ['all'], code: 1, says: ['FAILED k1 quality_metrics', ...says] });

const cases: Case[] = [
  // pipeline.yaml: reading it
  { name: 'no pipeline file', files: { 'pipeline.yaml': '' }, setup: (d) => fs.rmSync(path.join(d, 'pipeline.yaml')), args: ['all'], code: 2, says: [/error: no pipeline file at .*pipeline\.yaml \(give one with -f FILE/] },
  { name: 'pipeline.yaml is a folder', setup: (d) => { fs.rmSync(path.join(d, 'pipeline.yaml')); fs.mkdirSync(path.join(d, 'pipeline.yaml')); }, args: ['all'], code: 2, says: ['pipeline.yaml error: a folder, not a YAML file'] },
  { name: 'empty pipeline file', files: { 'pipeline.yaml': '' }, args: ['all'], code: 2, says: [/pipeline\.yaml(:\d+:\d+)? error: .*(missing required key 'version'|must be a mapping)/] },
  { name: 'pipeline file is a list', files: { 'pipeline.yaml': '- a\n- b\n' }, args: ['all'], code: 2, says: ['pipeline.yaml:1:1 error: pipeline file must be a mapping with keys version, recordings, stages'] },
  { name: 'malformed YAML', files: { 'pipeline.yaml': head + 'stages:\n  a: [unclosed\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:\d+:\d+ error: invalid YAML: /m] },
  { name: 'a tab for indentation', files: { 'pipeline.yaml': head + 'stages:\n\ta:\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:6:\d+ error: invalid YAML: /m] },
  { name: 'a key given twice', files: { 'pipeline.yaml': head + 'stages:\n' + stageA + '    inputs: []\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:1[0-9]:5 error: invalid YAML: Map keys must be unique/m] },
  { name: 'an alias with no anchor', files: { 'pipeline.yaml': head + 'stages:\n  a: *nothing\n' }, args: ['all'], code: 2, says: ["pipeline.yaml:6:6 error: invalid YAML: alias '*nothing' has no anchor '&nothing' before it"] },
  { name: 'an alias bomb (billion laughs)', files: { 'pipeline.yaml': head + 'l0: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + Array.from({ length: 8 }, (_, i) => `l${i + 1}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]\n`).join('') + 'stages: {}\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:6:\d+ error: invalid YAML: its aliases expand to more than 1000 copies/m] },
  { name: 'a 3 MB pipeline file', files: { 'pipeline.yaml': head + '#'.repeat(3 * 1024 * 1024) + '\n' }, args: ['all'], code: 2, says: ['pipeline.yaml error: 3.0 MB is far more than any settings file (at most 1 MB is read): is it the right file?'] },
  { name: 'a pipeline file no one may read', setup: (d) => { fs.chmodSync(path.join(d, 'pipeline.yaml'), 0o000); }, uid: 65534, args: ['all'], code: 2, says: [/pipeline\.yaml error: cannot read .*pipeline\.yaml: permission denied/] },
  // pipeline.yaml: what it says
  { name: 'version 2', files: { 'pipeline.yaml': basicPipeline.replace('version: 1', 'version: 2') }, args: ['all'], code: 2, says: ['pipeline.yaml:1:10 error: key version must be 1, not number 2'] },
  { name: 'no recordings section', files: { 'pipeline.yaml': 'version: 1\nstages:\n' + stageA }, args: ['all'], code: 2, says: ["error: key (top level) is missing required key 'recordings'"] },
  { name: 'no stages', files: { 'pipeline.yaml': head }, args: ['all'], code: 2, says: ["error: key (top level) is missing required key 'stages'"] },
  { name: 'an empty stages mapping', files: { 'pipeline.yaml': head + 'stages: {}\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:5:9 error: key stages must NOT have fewer than 1 properties/m] },
  { name: 'an unknown top-level key', files: { 'pipeline.yaml': basicPipeline + 'resorces: { io: 2 }\n' }, args: ['all'], code: 2, says: [/error: unknown key 'resorces' in key \(top level\) \(did you mean 'resources'\?\)/] },
  { name: 'an unknown stage key', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    retires: 2\n') }, args: ['all'], code: 2, says: [/^pipeline\.yaml:\d+:5 error: unknown key 'retires' in key stages\.b \(did you mean 'retries'\?\)/m] },
  { name: 'an unknown recordings key', files: { 'pipeline.yaml': head + '  roots: ./x\nstages:\n' + stageA }, args: ['all'], code: 2, says: [/^pipeline\.yaml:5:3 error: unknown key 'roots' in key recordings \(did you mean 'root'\?\)/m] },
  { name: 'run: shell', files: { 'pipeline.yaml': withStage('  b:\n    run: shell\n') }, args: ['all'], code: 2, says: [/error: key stages\.b\.run must be one of "builtin", "python-module", "command", not the string "shell"/] },
  { name: 'a pool size that is not a number', files: { 'pipeline.yaml': head + 'resources: { gpu: one }\nstages:\n' + stageA }, args: ['all'], code: 2, says: ['pipeline.yaml:5:19 error: key resources.gpu must be integer, not the string "one"'] },
  { name: 'a pool of 0 slots', files: { 'pipeline.yaml': head + 'resources: { gpu: 0 }\nstages:\n' + stageA }, args: ['all'], code: 2, says: [/^pipeline\.yaml:5:19 error: key resources\.gpu must be >= 1/m] },
  { name: 'a stage asking for an undeclared pool', files: { 'pipeline.yaml': head + 'resources: { gpu: 1 }\nstages:\n' + stageA + '    resources: { gpus: 1 }\n' }, args: ['all'], code: 2, says: [/error: stage 'a' asks for pool 'gpus', which is not declared under resources \(did you mean 'gpu'\?\)/] },
  { name: 'run: command without a command', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n') }, args: ['all'], code: 2, says: [/^pipeline\.yaml:\d+:3 error: stage 'b' has run: command but no command/m] },
  { name: 'a command with an unterminated quote', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: prog "half\n') }, args: ['all'], code: 2, says: [/error: stages\.b\.command: unterminated double quote at character 6/] },
  { name: 'a command on a builtin stage', files: { 'pipeline.yaml': withStage('  b:\n    run: builtin\n    module: quality_metrics\n    command: ["x"]\n') }, args: ['all'], code: 2, says: [/error: stages\.b\.command is only used with run: command \(this stage has run: builtin\)/] },
  { name: 'after: an unknown stage', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    after: [aa]\n') }, args: ['all'], code: 2, says: [/^pipeline\.yaml:\d+:13 error: stage 'b' runs after unknown stage 'aa' \(did you mean 'a'\?\)/m] },
  { name: 'a cycle', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    inputs: ["{output}/c.out"]\n    outputs: ["{output}/b.out"]\n  c:\n    run: command\n    command: ["true"]\n    inputs: ["{output}/b.out"]\n    outputs: ["{output}/c.out"]\n') }, args: ['all'], code: 2, says: [/error: the stages form a cycle: b -> c -> b/, /note: pipeline\.yaml:\d+:\d+: 'b' reads \{output\}\/c\.out, made by 'c'/] },
  { name: 'two producers of one file', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    outputs: ["{output}/a.out"]\n') }, args: ['all'], code: 2, says: [/error: '\{output\}\/a\.out' is an output of two stages: 'a' and 'b'/, /note: pipeline\.yaml:\d+:\d+: also made by 'a' here/] },
  { name: 'an output that is the marker', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    outputs: ["{marker}"]\n') }, args: ['clean'], code: 2, says: [/^pipeline\.yaml:\d+:15 error: stage 'b': output '\{marker\}' can be the recording's marker; a recording's own files are never written or removed/m] },
  { name: 'an output matching recordings.match', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    outputs: ["{output}/copy.ap.bin"]\n') }, args: ['all'], code: 2, says: [/error: stage 'b': output '\{output\}\/copy\.ap\.bin' can be a file matching recordings\.match/] },
  { name: "an output that is the recording's .meta", files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    outputs: ["{recording}/probe.ap.meta"]\n') }, args: ['all'], code: 2, says: [/error: stage 'b': output '\{recording\}\/probe\.ap\.meta' can be a SpikeGLX \.meta file/] },
  { name: 'an in_place copy onto the marker', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    params:\n      x: { f: "{output}/a.out" }\n    in_place: { f: "{marker}" }\n') }, args: ['all'], code: 2, says: [/error: stage 'b': in_place copy '\{marker\}' can be the recording's marker/] },
  { name: 'an unknown placeholder in an output', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    outputs: ["{outptu}/b.out"]\n') }, args: ['all'], code: 2, says: [/^pipeline\.yaml:\d+:15 error: stage 'b': unknown placeholder \{outptu\} in "\{outptu\}\/b\.out" \(recording r1\)/m] },
  { name: 'an unknown placeholder in recordings.output', files: { 'pipeline.yaml': head + '  output: "/out/{recordnig}"\nstages:\n' + stageA }, args: ['all'], code: 2, says: [/pipeline\.yaml error: recordings\.output: unknown placeholder \{recordnig\} \(use \{recording\}, \{name\} or \{root\}\)/] },
  { name: 'a space: that is not a size', files: { 'pipeline.yaml': head + 'stages:\n' + stageA + '    space: lots\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:11:12 error: key stages\.a\.space must match pattern/m] },
  { name: 'a schema file that does not exist', files: { 'pipeline.yaml': head + 'stages:\n' + stageA + '    schema: ./nope.json\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:11:13 error: schema file .*nope\.json does not exist/m] },
  { name: 'a stage name with a space', files: { 'pipeline.yaml': head + 'stages:\n  "my stage":\n    run: command\n    command: ["true"]\n' }, args: ['all'], code: 2, says: [/error: .*stages.* must match pattern|property name must be valid/] },
  { name: 'an empty recordings.match', files: { 'pipeline.yaml': 'version: 1\nrecordings:\n  root: ./data\n  match: ""\nstages:\n' + stageA }, args: ['all'], code: 2, says: [/^pipeline\.yaml:4:10 error: key recordings\.match must NOT have fewer than 1 characters/m] },
  { name: 'an unknown layout', files: { 'pipeline.yaml': head + '  layout: spikeglxx\nstages:\n' + stageA }, args: ['all'], code: 2, says: [/^pipeline\.yaml:5:11 error: key recordings\.layout must be one of "auto", "spikeglx", "openephys", "none", not the string "spikeglxx"/m] },
  { name: 'a negative settle time', files: { 'pipeline.yaml': head + '  ready: { settle_seconds: -1 }\nstages:\n' + stageA }, args: ['all'], code: 2, says: [/^pipeline\.yaml:5:28 error: key recordings\.ready\.settle_seconds must be >= 0/m] },
  { name: 'negative retries', files: { 'pipeline.yaml': head + 'stages:\n' + stageA + '    retries: -1\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:11:14 error: key stages\.a\.retries must be >= 0/m] },
  { name: 'a params section that is not a mapping', files: { 'pipeline.yaml': head + 'params:\n  ephys_params: 3\nstages:\n' + stageA }, args: ['all'], code: 2, says: ['pipeline.yaml:6:17 error: key params.ephys_params must be object, not number 3'] },
  { name: 'an input without a path', files: { 'pipeline.yaml': head + 'stages:\n' + stageA.replace('inputs: ["{marker}"]', 'inputs: [{ optional: true }]') }, args: ['all'], code: 2, says: [/^pipeline\.yaml:\d+:\d+ error: .*stages\.a\.inputs\.0/m] },
  { name: 'a misspelt key of a built-in module', files: { 'pipeline.yaml': ksPipeline.replace('include_pc_metrics: false', 'include_pc_metrics: false, isi_treshold: 0.002') }, setup: ksFolder(), args: ['all'], code: 2, says: [/^pipeline\.yaml:\d+:\d+ error: unknown key 'isi_treshold' in input JSON of 'quality_metrics' \(k1\) at \/quality_metrics_params \(did you mean 'isi_threshold'\?\)/m] },
  { name: 'a module value of the wrong type', files: { 'pipeline.yaml': ksPipeline.replace('include_pc_metrics: false', 'include_pc_metrics: false, isi_threshold: short') }, setup: ksFolder(), args: ['all'], code: 2, says: [/^pipeline\.yaml:\d+:\d+ error: input JSON of 'quality_metrics' \(k1\) at \/quality_metrics_params\/isi_threshold must be number, not the string "short"/m] },
  { name: 'an in_place key that is no value', files: { 'pipeline.yaml': head + 'stages:\n' + stageA + '    in_place: { ap_band_fiel: "{output}/copy.dat" }\n' }, args: ['all'], code: 2, says: [/^pipeline\.yaml:11:17 error: stage 'a': in_place key 'ap_band_fiel' is not a value of its input JSON/m] },
  { name: 'a recordings root that does not exist', files: { 'pipeline.yaml': basicPipeline.replace('root: ./data', 'root: ./dtaa') }, args: ['all'], code: 2, says: [/pipeline\.yaml error: recordings root .*dtaa does not exist \(set recordings\.root in pipeline\.yaml or pass --root\)/] },

  // The command line
  { name: 'an unknown option', args: ['all', '--bogus'], code: 2, says: [/^ephys-make: Unknown option '--bogus'/m] },
  { name: '-j 0', args: ['all', '-j', '0'], code: 2, says: ['ephys-make: -j 0: expected a whole number of jobs, 1 or more'] },
  { name: '-j many', args: ['all', '-j', 'many'], code: 2, says: ['ephys-make: -j many: expected a whole number of jobs, 1 or more'] },
  { name: "--dir ''", args: ['all', '--dir', ''], code: 2, says: ['ephys-make: --dir was given an empty value (an unset shell variable?); give a folder'] },
  { name: "--root ''", args: ['all', '--root', ''], code: 2, says: ['ephys-make: --root was given an empty value (an unset shell variable?); give a folder'] },
  { name: "-f ''", args: ['all', '-f', ''], code: 2, says: ['ephys-make: --file was given an empty value'] },
  { name: '--dir of a folder that does not exist', args: ['all', '--dir', 'data/r9'], code: 2, says: ['error: --dir data/r9: no such folder'] },
  { name: '--dir of a folder without recordings', setup: (d) => fs.mkdirSync(path.join(d, 'empty')), args: ['all', '--dir', 'empty'], code: 2, says: [/error: no recordings matching '\*\*\/\*\.ap\.bin' under empty/] },
  { name: '--root that does not exist', args: ['all', '--root', 'elsewhere'], code: 2, says: [/error: recordings root .*elsewhere does not exist/] },
  { name: 'an unknown target', args: ['bb'], code: 2, says: ["error: unknown target 'bb' (did you mean 'b'?); targets are 'all' or stage names: a, b"] },
  { name: '--force of an unknown stage', args: ['all', '--force', 'c'], code: 2, says: ['error: --force c: no such stage (stages: a, b)'] },
  { name: '--set without =', args: ['all', '--set', 'b.b_params.threshold'], code: 2, says: ['error: --set b.b_params.threshold: expected STAGE.KEY=VALUE or params.SECTION.KEY=VALUE'] },
  { name: '--set of an unknown stage', args: ['all', '--set', 'bb.b_params.threshold=5'], code: 2, says: ["error: --set bb.b_params.threshold=5: 'bb' is not a stage (did you mean 'b'?)"] },
  { name: '--set of a misspelt shared section', args: ['all', '--set', 'params.shraed.sample_rate=1'], code: 2, says: ["error: --set params.shraed.sample_rate=1: no stage takes a section 'shraed' (did you mean 'shared'?)"] },
  { name: "--set of a misspelt section of a stage", args: ['all', '--set', 'b.b_parms.threshold=5'], code: 2, says: ["error: --set b.b_parms.threshold=5: stage 'b' takes no section 'b_parms' (did you mean 'b_params'?)"] },
  { name: '--set params.quality_metrics_parms (a misspelt module section)', files: { 'pipeline.yaml': ksPipeline }, setup: ksFolder(), args: ['all', '--set', 'params.quality_metrics_parms.isi_threshold=0.002'], code: 2, says: ["error: --set params.quality_metrics_parms.isi_threshold=0.002: no stage takes a section 'quality_metrics_parms' (did you mean 'quality_metrics_params'?)"] },
  { name: '--set of a misspelt module key', files: { 'pipeline.yaml': ksPipeline }, setup: ksFolder(), args: ['all', '--set', 'quality_metrics.quality_metrics_params.isi_treshold=0.002'], code: 2, says: [/error: unknown key 'isi_treshold' in input JSON of 'quality_metrics' \(k1\) at \/quality_metrics_params \(did you mean 'isi_threshold'\?\)/] },
  { name: '--set of a module value of the wrong type', files: { 'pipeline.yaml': ksPipeline }, setup: ksFolder(), args: ['all', '--set', 'quality_metrics.quality_metrics_params.isi_threshold=short'], code: 2, says: [/error: input JSON of 'quality_metrics' \(k1\) at \/quality_metrics_params\/isi_threshold must be number, not the string "short"/] },
  { name: 'clean of an unknown stage', args: ['clean', 'c'], code: 2, says: ["ephys-make: clean: no stage 'c'"] },
  { name: 'watch --dir', args: ['watch', '--dir', 'data/r1'], code: 2, says: ['ephys-make watch: --dir (watch follows a whole root; use --root) is not supported'] },
  { name: 'watch -n', args: ['watch', '-n'], code: 2, says: [/^ephys-make watch: -n \(use `.*ephys-make(\.js)? -n` to see what would run\) is not supported$/m] },
  { name: 'synth without --out', args: ['synth'], code: 2, says: ['ephys-make synth: --out DIR is required'] },
  { name: 'synth --channels many', args: ['synth', '--out', 'x', '--channels', 'many'], code: 2, says: ["ephys-make synth: --channels must be a whole number, got 'many'"] },
  { name: 'synth over an existing recording', setup: (d) => writeFile(d, 'x/data/synth01_g0/synth01_g0_imec0/synth01_g0_t0.imec0.ap.bin', 'real'), args: ['synth', '--out', 'x', '--recordings', '1', '--seconds', '0.1', '--channels', '4'], code: 2, says: [/ephys-make synth: .*\/x\/data\/synth01_g0 already exists; synth never writes over a recording/] },
  { name: 'output piped into a reader that went away', setup: (d) => { for (let i = 0; i < 400; i++) writeFile(d, `data/m${i}/probe.ap.bin`, 'x'); }, args: ['-n'], code: 143, closeStdout: true, says: [] },

  // A recording's own files
  { name: 'a .meta line that is not key=value', files: { 'pipeline.yaml': glxPipeline, ...glx('g1', glxMeta().replace('imSampRate=', 'imSampRate ')), ...glx('g2') }, args: ['all'], code: 2, says: [/^data\/g1\/g1_t0\.imec0\.ap\.meta:\d+:1 error: line \d+ is not key=value: 'imSampRate 30000'/m, /^done   g2 a /m, /ephys-make: 1 of 2 recordings not processed \(errors above\): g1/], exists: ['data/g2/a.out'], absent: ['data/g1/a.out', 'data/g1/.ephys-make'] },
  { name: 'a .meta without nSavedChans', files: { 'pipeline.yaml': glxPipeline, ...glx('g1', glxMeta().replace(/^nSavedChans=.*\n/m, '')), ...glx('g2') }, args: ['all', '-k'], code: 2, says: [/^data\/g1\/g1_t0\.imec0\.ap\.meta error: key 'nSavedChans' is missing/m, /^done   g2 a /m] },
  { name: 'a .meta with a sample rate that is not a number', files: { 'pipeline.yaml': glxPipeline, ...glx('g1', glxMeta().replace(/^imSampRate=.*$/m, 'imSampRate=fast')) }, args: ['all'], code: 2, says: [/^data\/g1\/g1_t0\.imec0\.ap\.meta:\d+:12 error: key 'imSampRate' is 'fast', expected a number/m] },
  { name: 'an empty .meta', files: { 'pipeline.yaml': glxPipeline, ...glx('g1', '') }, args: ['all'], code: 2, says: [/^data\/g1\/g1_t0\.imec0\.ap\.meta error: empty file: no key=value lines/m] },
  { name: 'an .ap.bin shorter than its .meta says (an incomplete copy)', files: { 'pipeline.yaml': glxPipeline, ...glx('g1', glxMeta(100), glxBin(60)), ...glx('g2') }, args: ['all'], code: 2, says: [/^data\/g1\/g1_t0\.imec0\.ap\.meta:\d+:15 error: g1_t0\.imec0\.ap\.bin is 1080 bytes but its \.meta says fileSizeBytes=1800: an incomplete copy\? recording g1 is not processed until the file is complete/m, /^done   g2 a /m], exists: ['data/g2/a.out'], absent: ['data/g1/a.out', 'data/g1/.ephys-make'] },
  { name: 'layout spikeglx without a .meta', files: { 'pipeline.yaml': glxPipeline.replace('layout: auto', 'layout: spikeglx'), 'data/g1/g1_t0.imec0.ap.bin': glxBin() }, args: ['all'], code: 2, says: [/^data\/g1\/g1_t0\.imec0\.ap\.bin error: layout spikeglx: no g1_t0\.imec0\.ap\.meta beside g1_t0\.imec0\.ap\.bin/m] },
  { name: 'Open Ephys under layout auto without structure.oebin', files: { 'pipeline.yaml': oePipeline, [oeDat]: new Uint8Array(800) }, args: ['all'], code: 2, says: [/^data\/s1\/continuous\/Neuropix-PXI-100\.0\/continuous\.dat error: layout auto: continuous\.dat is an Open Ephys recording but there is no structure\.oebin in .*\/data\/s1 or its parent/m] },
  { name: 'a structure.oebin that is not JSON', files: { 'pipeline.yaml': oePipeline, [oeDat]: new Uint8Array(800), 'data/s1/structure.oebin': '{ "continuous": [ }' }, args: ['all'], code: 2, says: [/^data\/s1\/structure\.oebin(:1:\d+)? error: not valid JSON: /m] },
  { name: "a structure.oebin without 'continuous'", files: { 'pipeline.yaml': oePipeline, [oeDat]: new Uint8Array(800), 'data/s1/structure.oebin': '{}' }, args: ['all'], code: 2, says: [/^data\/s1\/structure\.oebin error: key 'continuous' is missing/m] },
  { name: 'a structure.oebin with a bad sample rate', files: { 'pipeline.yaml': oePipeline, [oeDat]: new Uint8Array(800), 'data/s1/structure.oebin': oebin.replace(/"sample_rate":\s*30000/, '"sample_rate": -1') }, args: ['all'], code: 2, says: [/^data\/s1\/structure\.oebin error: .*sample_rate/m] },
  { name: 'an ephys-make.yaml with an unknown key', files: { ...raw, 'data/r1/ephys-make.yaml': 'parms:\n  shared: { sample_rate: 1 }\n' }, args: ['all'], code: 2, says: [/^data\/r1\/ephys-make\.yaml:1:1 error: unknown key 'parms' in ephys-make\.yaml; valid keys: params, stages/m] },
  { name: 'a malformed ephys-make.yaml', files: { ...raw, 'data/r1/ephys-make.yaml': 'params: [\n' }, args: ['all'], code: 2, says: [/^data\/r1\/ephys-make\.yaml:\d+:\d+ error: invalid YAML: /m] },
  { name: 'an ephys-make.yaml naming an unknown stage', files: { ...raw, 'data/r1/ephys-make.yaml': 'stages:\n  bb:\n    params: {}\n' }, args: ['all'], code: 2, says: [/^data\/r1\/ephys-make\.yaml:2:3 error: unknown stage 'bb' in ephys-make\.yaml; stages: a, b/m] },
  { name: 'an ephys-make.yaml pointing an output at the marker', files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    outputs: ["{target}"]\n    params:\n      x: { target: "{output}/b.out" }\n'), ...raw }, setup: (d) => writeFile(d, 'data/r1/ephys-make.yaml', `stages:\n  b:\n    params:\n      x: { target: ${JSON.stringify(path.join(d, 'data/r1/probe.ap.bin'))} }\n`), args: ['all'], code: 2, says: [/error: recording r1: stage 'b' would write .*\/data\/r1\/probe\.ap\.bin, which is the recording's own file \(its marker\)/] },
  { name: 'a read-only recording folder (-k goes on with the others)', setup: (d) => { fs.chmodSync(path.join(d, 'data', 'r1'), 0o555); }, uid: 65534, rootOwned: ['data/r1'], args: ['all', '-k'], code: 1, says: [/^FAILED r1 a: cannot lock the recording \(.*\): EACCES: permission denied, mkdir '.*\/data\/r1\/\.ephys-make'$/m, /^done   r2 b /m], exists: ['data/r2/b.out'], absent: ['data/r2/.ephys-make/lock', 'data/r1/.ephys-make'] },

  // Kilosort folders, checked before a built-in uses them
  ksCase('spike times out of order', { 'spike_times.npy': { dtype: 'uint64', shape: [6], data: BigUint64Array.from([30n, 60n, 90n, 3000n, 300n, 29000n]) } }, [/sorted\/k1\/spike_times\.npy: not sorted: value 300 at index 4 is below 3000 at index 3/]),
  ksCase('a spike past the end of the recording', { 'spike_times.npy': { dtype: 'uint64', shape: [6], data: BigUint64Array.from([30n, 60n, 90n, 300n, 3000n, 45000n]) } }, [/sorted\/k1\/spike_times\.npy: value 45000 at index 5 is past the end of the recording \(30000 samples in .*\/sorted\/k1\/continuous\.dat\)/]),
  ksCase('NaN amplitudes', { 'amplitudes.npy': { dtype: 'float32', shape: [6], data: Float32Array.from([1, NaN, 3, 4, 5, 6]) } }, [/sorted\/k1\/amplitudes\.npy: value NaN at index 1; expected finite template scaling factors/]),
  ksCase('per-spike files of different lengths', { 'spike_clusters.npy': { dtype: 'uint32', shape: [5], data: Uint32Array.from([0, 2, 0, 1, 2]) } }, [/sorted\/k1\/spike_clusters\.npy: 5 spikes; expected 6, as in spike_times\.npy/]),
  ksCase('a cluster id out of range', { 'spike_clusters.npy': { dtype: 'uint32', shape: [6], data: Uint32Array.from([0, 2, 0, 3000000000, 2, 1]) } }, [/sorted\/k1\/spike_clusters\.npy: cluster id 3000000000 at index 3 is out of range/]),
  ksCase('a negative cluster id', { 'spike_clusters.npy': { dtype: 'int32', shape: [6], data: Int32Array.from([0, 2, -1, 1, 2, 1]) } }, [/sorted\/k1\/spike_clusters\.npy: value -1 at index 2; expected ids from 0/]),
  ksCase('a template id out of range', { 'spike_templates.npy': { dtype: 'uint32', shape: [6], data: Uint32Array.from([0, 2, 0, 7, 2, 1]) } }, [/sorted\/k1\/spike_templates\.npy: template id 7 at spike 3; expected ids below 3/]),
  ksCase('a missing templates.npy', { 'templates.npy': null }, [/sorted\/k1\/templates\.npy: missing; expected templates/]),
  ksCase('spike times of a float dtype', { 'spike_times.npy': { dtype: 'float32', shape: [6], data: new Float32Array(6) } }, [/sorted\/k1\/spike_times\.npy: dtype float32; expected integer sample indices/]),
  { name: 'kilosort: a spike_times.npy that is not .npy', files: { 'pipeline.yaml': ksPipeline }, setup: (d) => { ksFolder()(d); fs.writeFileSync(path.join(d, 'sorted/k1/spike_times.npy'), 'not numpy'); }, args: ['all'], code: 1, says: ['FAILED k1 quality_metrics', /sorted\/k1\/spike_times\.npy: not a \.npy file/] },

  // The engine's own files, damaged or in the way
  { name: 'runs.jsonl is a folder', damage: (d) => { const s = path.join(d, 'data/r1/.ephys-make/runs.jsonl'); fs.rmSync(s); fs.mkdirSync(s); fs.rmSync(path.join(d, 'data/r1/b.out')); }, args: ['all'], code: 1, says: [/^FAILED r1 b: .*'.*\/data\/r1\/\.ephys-make\/runs\.jsonl'/m] },
  { name: "a job's input.json is a folder", damage: (d) => { const s = path.join(d, 'data/r1/.ephys-make/b/input.json'); fs.rmSync(s); fs.mkdirSync(s); fs.writeFileSync(path.join(s, 'x'), ''); fs.rmSync(path.join(d, 'data/r1/b.out')); }, args: ['all'], code: 1, says: [/^FAILED r1 b: .*\/data\/r1\/\.ephys-make\/b\/input\.json'/m] },
  { name: "a job's log.txt is a folder", damage: (d) => { const s = path.join(d, 'data/r1/.ephys-make/b/log.txt'); fs.rmSync(s); fs.mkdirSync(s); fs.rmSync(path.join(d, 'data/r1/b.out')); }, args: ['all'], code: 1, says: [/^FAILED r1 b: .*'.*\/data\/r1\/\.ephys-make\/b\/log\.txt'/m] },
  { name: "a job's folder is a file", damage: (d) => { const s = path.join(d, 'data/r1/.ephys-make/b'); fs.rmSync(s, { recursive: true }); fs.writeFileSync(s, ''); fs.rmSync(path.join(d, 'data/r1/b.out')); }, args: ['all'], code: 1, says: [/^FAILED r1 b: .*'.*\/data\/r1\/\.ephys-make\/b'/m] },
  { name: 'a stale recording lock that is a folder', damage: (d) => { const l = path.join(d, 'data/r1/.ephys-make/lock'); fs.mkdirSync(l); fs.utimesSync(l, 1e9, 1e9); fs.rmSync(path.join(d, 'data/r1/b.out')); }, args: ['all', '-k'], code: 1, says: [/^FAILED r1 b: cannot lock the recording .*\/data\/r1\/\.ephys-make\/lock/m] },
  { name: "an output's folder is a file", files: { 'pipeline.yaml': withStage('  b:\n    run: command\n    command: ["true"]\n    outputs: ["{output}/sub/b.out"]\n') }, setup: (d) => writeFile(d, 'data/r1/sub', 'in the way'), args: ['all', '-k'], code: 1, says: [/^FAILED r1 b: exited 0 but did not make declared output .*\/data\/r1\/sub\/b\.out/m] },
];

/** No stack frames, no internal errors, no Node crash banner: expected failures are one-line messages. */
const stackLike = /^\s+at .+(:\d+:\d+\)?|\(native\))$|internal error|^Node\.js v\d+|Uncaught|UnhandledPromiseRejection/m;

interface Outcome { code: number | null; signal: NodeJS.Signals | null; output: string; dir: string }

function run(c: Case, dir: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', EPHYS_MAKE_POOL_DIR: c.uid !== undefined ? path.join(dir, 'pools') : poolDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(c.uid !== undefined ? { uid: c.uid, gid: c.uid } : {}),
    });
    let output = '';
    if (c.closeStdout) child.stdout!.destroy(); else child.stdout!.on('data', (d) => { output += d; });
    child.stderr!.on('data', (d) => { output += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, output, dir }); });
  });
}

const isRoot = process.getuid?.() === 0;
// Cases run as another user need a checkout that user can read.
const otherUser = isRoot ? checkoutUnreadableBy(65534, 65534) : undefined;
const runnable = (c: Case) => c.uid === undefined || !otherUser;

async function prepare(c: Case): Promise<Outcome> {
  if (!isRoot) c = { ...c, uid: undefined };
  const dir = tempDir('ephys-make-bad-');
  // Cases that bring their own recordings do not get the plain r1 and r2.
  const own = Object.keys(c.files ?? {}).some((f) => f.startsWith('data/') && !f.endsWith('ephys-make.yaml'));
  const files = { 'pipeline.yaml': basicPipeline, ...(own ? {} : raw), ...(c.files ?? {}) };
  for (const [rel, content] of Object.entries(files)) writeFile(dir, rel, content);
  c.setup?.(dir);
  if (c.damage) {
    const first = await run({ ...c, uid: undefined, closeStdout: false }, dir, ['all']);
    if (first.code !== 0) return { ...first, output: `the first run failed:\n${first.output}` };
    c.damage(dir);
  }
  if (c.uid !== undefined) {
    fs.chownSync(dir, c.uid, c.uid);
    chownTree(dir, c.uid, new Set((c.rootOwned ?? []).map((r) => path.join(dir, r))));
  }
  return run(c, dir, c.args);
}

/** Give the tree to `uid`, except `keep` (folders the case wants to stay the root's, read-only). */
function chownTree(dir: string, uid: number, keep: Set<string>): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (keep.has(p)) continue;
    fs.chownSync(p, uid, uid);
    if (e.isDirectory()) chownTree(p, uid, keep);
  }
}

const results = new Map<string, Promise<Outcome>>();
const parallel = Number(process.env.BAD_INPUT_JOBS ?? 4);

test.before(timed(async () => {
  const queue = cases.filter(runnable);
  const start = async (): Promise<void> => {
    const c = queue.shift();
    if (!c) return;
    const p = prepare(c);
    results.set(c.name, p);
    await p.catch(() => undefined);
    return start();
  };
  await Promise.all(Array.from({ length: parallel }, start));
}, 900_000));

const asOtherUser = testUnless(otherUser);
for (const c of cases) {
  (runnable(c) ? test : asOtherUser)(c.name, async () => {
    const r = await results.get(c.name)!;
    const show = `\n--- ${c.args.join(' ')} in ${r.dir} (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}):\n${r.output}`;
    if (c.closeStdout) assert.ok(r.code === c.code || r.signal === 'SIGTERM', show);
    else assert.is(r.code, c.code, show);
    assert.not.match(r.output, stackLike, show);
    for (const s of c.says) {
      if (typeof s === 'string') assert.ok(r.output.includes(s), `expected ${JSON.stringify(s)}${show}`);
      else assert.match(r.output, s, show);
    }
    // Whatever went wrong, nothing is left locked and no temporary file is left behind.
    const leftovers = filesUnder(r.dir).filter((f) => /(^|\/)lock$|\.lock$|\.takeover$|\.partial$/.test(f));
    assert.equal(leftovers, [], `left behind${show}`);
    for (const f of c.exists ?? []) assert.ok(fs.existsSync(path.join(r.dir, f)), `${f} should exist${show}`);
    for (const f of c.absent ?? []) assert.not.ok(fs.existsSync(path.join(r.dir, f)), `${f} should not exist${show}`);
  });
}

test('the matrix has at least 80 cases', () => {
  assert.ok(cases.length >= 80, `${cases.length} cases`);
});

test.run();
