/**
 * What an Allen module cannot do, checked when a job is built (so `-n`, `doctor` and every run
 * refuse it before anything starts), for failures the module itself does not report.
 *
 * The median-subtraction program reads 384 channels per sample whatever the file holds. On a
 * SpikeGLX file (385 channels with the sync channel) it misreads every sample, rewrites the file
 * and exits 0: 96% of the samples come out wrong and Kilosort then finds half the spikes.
 */
import type { Stage } from './config.js';
import type { JobInput } from './inputJson.js';
import type { Recording } from './recordings.js';
import { spanAt, type YamlSource } from './yamlSource.js';
import type { Diagnostic } from '../base/diagnostic.js';

export const medianProgramChannels = 384;

/** Whether jobs of this stage are checked (their input JSON must then be built to plan them). */
export function hasModuleLimits(stage: Stage): boolean {
  return stage.run === 'python-module' && stage.module === 'median_subtraction';
}

export function moduleLimitProblems(source: YamlSource, stage: Stage, recording: Recording, input: JobInput): Diagnostic[] {
  if (!hasModuleLimits(stage)) return [];
  const channels = input.json.ephys_params?.num_channels ?? medianProgramChannels;
  if (channels === medianProgramChannels) return [];
  const from = input.origins?.get('ephys_params.num_channels');
  return [{
    ...spanAt(source, ['stages', stage.name, 'run'], false),
    recording: recording.name,
    message: `stage '${stage.name}' runs the Allen median-subtraction program, which reads ${medianProgramChannels} channels per sample, `
      + `but recording ${recording.name} has ${channels} (ephys_params.num_channels${from ? `, from ${from}` : ''}): the program would `
      + `misread every sample and still exit 0. Use 'run: builtin' for this stage (it reads any channel count), or a ${medianProgramChannels}-channel file`,
  }];
}
