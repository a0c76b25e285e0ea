/**
 * `ephys-make doctor`: for the pipeline in use, check that what each stage needs is there (the
 * interpreter and its module, a command's program, a built-in, executables and repositories named
 * in params), that every recording's jobs can be built (e.g. no Allen program given a channel
 * count it cannot read), and say how to fix what is missing. Runs nothing of the pipeline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import { findProgram } from './findProgram.js';
import type { Io } from '../base/io.js';
import { openPlanner } from '../engine/planner.js';
import { interpreterArgv, pythonModulePrefix } from '../engine/runners/argv.js';
import { shippedDriverOf } from '../engine/runners/shippedDriver.js';
import { stagesBuildDir } from '../base/paths.js';
import { deepMerge, isPlainObject } from '../engine/inputJson.js';
import type { Stage } from '../engine/config.js';
import { foldRepeats, formatDiagnostic, type Diagnostic } from '../base/diagnostic.js';

/**
 * Params naming things on disk that an Allen module opens or runs, by module. Only these are
 * checked: noise_templates' required classifier_path is never read (only its unused random-forest
 * variant would), and a built-in stage reads none of them.
 */
const pathKeysByModule: Record<string, Array<{ section: string; key: string }>> = {
  median_subtraction: [
    { section: 'median_subtraction_params', key: 'median_subtraction_executable' },
    { section: 'median_subtraction_params', key: 'median_subtraction_repo' },
  ],
  kilosort_helper: [
    { section: 'kilosort_helper_params', key: 'matlab_home_directory' },
    { section: 'kilosort_helper_params', key: 'kilosort_repository' },
  ],
  extract_from_npx: [{ section: 'extract_from_npx_params', key: 'npx_extractor_executable' }],
};

/** The path params a stage's runner really uses: an Allen module's, run by Python or by a command. */
export function pathParamsUsed(stage: Stage): Array<{ section: string; key: string }> {
  return stage.run === 'builtin' ? [] : pathKeysByModule[stage.module] ?? [];
}

export function doctor(o: CliOptions, io: Io): number {
  const loaded = openPlanner({ ...engineOptions(o, io), targets: ['all'] });
  if (!loaded.ok) return printDiagnostics(io, loaded.diagnostics);
  const { pipeline, graph } = loaded.value;
  let missing = 0;
  const okLine = (stage: string, text: string) => io.out(`ok       ${stage}: ${text}\n`);
  const bad = (stage: string, text: string, fix: string) => { missing++; io.out(`MISSING  ${stage}: ${text}\n         fix: ${fix}\n`); };
  const checkedPython = new Map<string, boolean>();

  const checkPython = (stage: Stage) => {
    const python = stage.python ?? pipeline.python;
    const argv = interpreterArgv(python);
    const where = stage.python ? `stages.${stage.name}.python` : 'python';
    if (!checkedPython.has(python)) {
      const r = spawnSync(argv[0], [...argv.slice(1), '-c', 'import sys; print(sys.version.split()[0])'], { env: io.env, encoding: 'utf8', timeout: 60_000 });
      checkedPython.set(python, r.status === 0);
      if (r.status !== 0) bad(stage.name, `interpreter '${python}' does not run (${r.error?.message ?? r.stderr.trim().split('\n').pop()})`, `set '${where}' in ${path.basename(pipeline.file)} to a Python with ecephys_spike_sorting installed (a venv's bin/python, or conda:ENV)`);
      else okLine(stage.name, `interpreter ${python} (Python ${r.stdout.trim()})`);
    }
    if (!checkedPython.get(python)) return;
    const driver = shippedDriverOf(stage.module);
    if (driver) {
      // The driver answers as a job would: with the gpu slot the stage holds (slot 0 here).
      const gpu = stage.resources.gpu && pipeline.resources.gpu ? { EPHYS_MAKE_GPU: '0', CUDA_VISIBLE_DEVICES: '0' } : {};
      const device = String(deepMerge(pipeline.params, stage.params)[`${stage.module}_params`]?.device ?? 'auto');
      const r = spawnSync(argv[0], [...argv.slice(1), driver.path, '--check', '--device', device], { env: { ...io.env, ...gpu }, encoding: 'utf8', timeout: 120_000 });
      const said = (r.stdout || r.stderr || r.error?.message || '').trim().split('\n').pop() ?? '';
      if (r.status === 0) okLine(stage.name, said);
      else if (r.status === 4) bad(stage.name, said, `set ${stage.module}_params.device: cpu in ${path.basename(pipeline.file)}, or install a CUDA build of torch in ${python}`);
      else bad(stage.name, said, `install Kilosort 4 and torch into ${python} (pip install kilosort torch), or set '${where}' to an environment that has them`);
      return;
    }
    const mod = pythonModulePrefix + stage.module;
    const r = spawnSync(argv[0], [...argv.slice(1), '-c', `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(mod)}) else 3)`], { env: io.env, encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) okLine(stage.name, `module ${mod}`);
    else bad(stage.name, `module ${mod} is not importable with ${python}`, `install ecephys_spike_sorting into that environment (pip install -e <its repository>), or use 'run: builtin' where ephys-make has one`);
    if (stage.module === 'kilosort_helper') {
      const m = spawnSync(argv[0], [...argv.slice(1), '-c', 'import matlab.engine'], { env: io.env, encoding: 'utf8', timeout: 60_000 });
      if (m.status === 0) okLine(stage.name, 'MATLAB engine for Python');
      else bad(stage.name, 'the MATLAB engine for Python (matlab.engine) is not importable', 'install it from your MATLAB: cd <matlabroot>/extern/engines/python && python setup.py install');
    }
  };

  for (const stage of graph.order) {
    switch (stage.run) {
      case 'python-module': checkPython(stage); break;
      case 'builtin':
        if (fs.existsSync(path.join(stagesBuildDir, stage.module, 'index.js'))) okLine(stage.name, `built-in ${stage.module}`);
        else bad(stage.name, `no built-in stage '${stage.module}'`, `use one of: ${fs.readdirSync(stagesBuildDir).filter((d) => fs.existsSync(path.join(stagesBuildDir, d, 'index.js'))).join(', ')}; or run: python-module`);
        break;
      case 'command': {
        const program = stage.command?.[0] ?? '';
        if (program.includes('{')) { okLine(stage.name, `command ${program} (filled per recording; not checked)`); break; }
        const found = findProgram(program, io.env);
        if (found) okLine(stage.name, `command ${found}`);
        else bad(stage.name, `program '${program}' not found on PATH`, `install it, or give its full path in stages.${stage.name}.command`);
        break;
      }
    }
    const params = deepMerge(pipeline.params, stage.params);
    for (const { section, key } of pathParamsUsed(stage)) {
      const value = isPlainObject(params[section]) ? params[section][key] : undefined;
      // A placeholder is filled per recording; a missing value is the schema's to report.
      if (typeof value !== 'string' || value.includes('{')) continue;
      if (fs.existsSync(value)) okLine(stage.name, `${key} ${value}`);
      else bad(stage.name, `${key} ${value} does not exist`, `set stages.${stage.name}.params.${section}.${key} in ${path.basename(pipeline.file)} to where it is on this machine`);
    }
  }
  // What only a recording's own values show, such as an Allen program's channel limit: every
  // recording's jobs are built (nothing is read beyond what planning reads).
  const found = loaded.value.discover();
  if (found.ok) {
    const problems: Diagnostic[] = [];
    for (const rec of found.value) {
      const rp = loaded.value.jobsOf(rec);
      if (!rp.ok) problems.push(...rp.diagnostics);
    }
    for (const d of foldRepeats(problems)) { missing++; io.out(formatDiagnostic(d, io.cwd)); }
  }
  io.out(missing ? `\n${missing} thing${missing === 1 ? '' : 's'} missing\n` : '\neverything the pipeline needs is here\n');
  return missing ? 1 : 0;
}
