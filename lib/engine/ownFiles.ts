/**
 * A recording's own files: its marker, its `.meta` / `.lf.bin` / `structure.oebin`, anything that
 * matches the recording pattern, and every input no stage makes. The tool never writes, moves or
 * deletes them. Checked twice: on pipeline.yaml's templates (a config error at the output's place)
 * and on each concrete path before a job is built or a file is cleaned.
 */
import path from 'node:path';
import picomatch from 'picomatch';
import type { Pipeline, Stage } from './config.js';
import type { Recording } from './recordings.js';
import { deepMerge, makeLookup } from './inputJson.js';
import { fillPlaceholders, PlaceholderError } from './template.js';
import { spanAt } from './yamlSource.js';
import type { Diagnostic } from '../base/diagnostic.js';


/** File names only acquisition software writes (SpikeGLX, Open Ephys). */
function acquisitionFile(name: string): string | undefined {
  if (name.endsWith('.meta')) return 'a SpikeGLX .meta file';
  if (/\.(ap|lf)\.bin$/.test(name)) return 'a SpikeGLX binary';
  if (name === 'structure.oebin') return "Open Ephys's structure.oebin";
  if (name === 'ephys-make.yaml') return "the recording's own settings";
  return undefined;
}

/** Is normalised absolute `child` strictly inside `parent`? (Planning asks this for every output.) */
function isInside(child: string, parent: string): boolean {
  const prefix = parent.endsWith(path.sep) ? parent : parent + path.sep;
  return child.length > prefix.length && child.startsWith(prefix);
}

const matchers = new Map<string, (rel: string) => boolean>();
function markerMatcher(match: string, exclude: string[]): (rel: string) => boolean {
  const key = JSON.stringify([match, exclude]);
  let m = matchers.get(key);
  if (!m) {
    // One regular expression for the pattern, the ignored folders checked by hand: planning asks
    // this of every output of every recording.
    const re = picomatch.makeRe(match, { dot: true });
    const excluded = exclude.length ? picomatch(exclude, { dot: true }) : () => false;
    // A plain last segment (`*.ap.bin`) must match the file name: most outputs fail that cheaply.
    const last = match.replace(/\\/g, '/').split('/').pop()!;
    const nameRe = !last || /\*\*|[{}()[\]@!+]/.test(last) ? undefined : picomatch.makeRe(last, { dot: true });
    m = (rel) => (!nameRe || nameRe.test(rel.slice(rel.lastIndexOf('/') + 1))) && re.test(rel) && !ignoredPart.test(rel) && !excluded(rel);
    matchers.set(key, m);
  }
  return m;
}
const ignoredPart = /(^|\/)(\.ephys-make|node_modules|\.git)\//;

const posix = path.sep === '/' ? (p: string) => p : (p: string) => p.split(path.sep).join('/');

/** Most paths come out of a template absolute and clean already. */
function normal(p: string): string {
  return p.startsWith('/') && !/\/\.{0,2}(\/|$)|\/\//.test(p) ? p : path.normalize(p);
}

/** The guard for one recording's concrete paths. */
export class OwnFiles {
  private isMarker: (rel: string) => boolean;
  private known = new Map<string, string>();
  private root: string;
  private dir: string;

  constructor(readonly recording: Recording, private match: string, exclude: string[]) {
    this.isMarker = markerMatcher(match, exclude);
    this.root = normal(recording.root);
    this.dir = normal(recording.dir);
    this.add(recording.marker, 'its marker');
  }

  /** A file the recording brought (a .meta, an input no stage makes), with how to say so. */
  add(file: string, why: string): void {
    const p = normal(file);
    if (!this.known.has(p)) this.known.set(p, why);
  }

  /** Why `file` is the recording's own (never to be written or removed), or undefined. */
  reasonFor(file: string): string | undefined {
    const p = normal(file);
    const known = this.known.get(p);
    if (known) return known;
    const root = this.root;
    if (isInside(p, root) && this.isMarker(posix(p.slice(root.length + (root.endsWith(path.sep) ? 0 : 1))))) {
      return `it matches recordings.match '${this.match}', so it is a recording's marker`;
    }
    if (isInside(p, this.dir) && !p.includes(`${path.sep}.ephys-make${path.sep}`)) return acquisitionFile(path.basename(p));
    return undefined;
  }

  /** Does `dir` hold one of the known own files (a folder clean would remove whole)? */
  holdsOwnFile(dir: string): string | undefined {
    const d = path.normalize(dir);
    for (const [p, why] of this.known) if (p === d || isInside(p, d)) return `${p} (${why})`;
    return undefined;
  }
}

// Symbols that stand for parts of any recording's paths while templates are checked.
const REC = '\u0001R';
const ROOT = '\u0001T';
const MARKER = '\u0001M';
const LFP = '\u0001L';

/**
 * Fill a template with symbols for the recording's paths and pipeline.yaml's own values; undefined
 * when it depends on something only a real recording gives (a value from its .meta, say).
 */
function symbolic(pipeline: Pipeline, stage: Stage, template: string): string | undefined {
  const base: Record<string, string> = { recording: REC, root: ROOT, name: '\u0001N', marker: `${REC}/${MARKER}`, stage: stage.name };
  let output: string;
  try {
    output = fillPlaceholders(pipeline.recordings.output, (k) => base[k]);
  } catch { return undefined; }
  const vars = { ...base, output, input_json: `${output}/.ephys-make/${stage.name}/input.json`, output_json: `${output}/.ephys-make/${stage.name}/output.json` };
  const raw = makeLookup(vars, deepMerge(pipeline.params, stage.params));
  const active = new Set<string>();
  const lookup = (name: string): string | undefined => {
    if (active.has(name)) return undefined;
    const v = raw(name);
    // Read from the recording's .meta / structure.oebin at run time.
    if (v === undefined) return name === 'lfp_band_file' ? LFP : undefined;
    if (name in vars || !v.includes('{')) return v;
    active.add(name);
    try { return fillPlaceholders(v, lookup); } finally { active.delete(name); }
  };
  try {
    return path.posix.normalize(fillPlaceholders(template.replace(/\\/g, '/'), lookup));
  } catch (err) {
    if (err instanceof PlaceholderError) return undefined;
    throw err;
  }
}

/** Every trailing run of path segments: `a/b/c` -> `a/b/c`, `b/c`, `c`. */
function suffixes(rel: string): string[] {
  const segs = rel.split('/');
  return segs.map((_, i) => segs.slice(i).join('/'));
}

/**
 * Config errors for output templates (and in_place copies) that can resolve to a recording's own
 * file. `isMade` says whether a normalised input template is some stage's output.
 */
export function ownFileTemplateProblems(pipeline: Pipeline, isMade: (template: string) => boolean): Diagnostic[] {
  const src = pipeline.source;
  const match = pipeline.recordings.match.replace(/\\/g, '/');
  const at = match.lastIndexOf('**/');
  const tail = at >= 0 ? match.slice(at + 3) : match.slice(match.lastIndexOf('/') + 1);
  const matchesTail = picomatch(tail, { dot: true });
  const matchesAll = picomatch(match, { dot: true });
  // Inputs no stage makes, resolved the same way, so `{marker}` and `{ap_band_file}` meet.
  const sources = new Map<string, string>();
  for (const s of pipeline.stages) {
    for (const f of s.inputs) {
      if (isMade(f.path)) continue;
      const v = symbolic(pipeline, s, f.path);
      if (v !== undefined && !sources.has(v)) sources.set(v, `stage '${s.name}' reads it as '${f.path}', and no stage makes it`);
    }
  }
  const diags: Diagnostic[] = [];
  for (const s of pipeline.stages) {
    const places: Array<[string, string[]]> = s.outputs.map((o, i) => [o, ['stages', s.name, 'outputs', String(i)]]);
    for (const [k, copy] of Object.entries(s.inPlace)) places.push([copy, ['stages', s.name, 'in_place', k]]);
    for (const [template, segs] of places) {
      const v = symbolic(pipeline, s, template);
      if (v === undefined) continue;
      let why: string | undefined;
      if (v === `${REC}/${MARKER}`) why = "the recording's marker";
      else if (v.split('/').includes(LFP)) why = "the recording's LFP file (lfp_band_file)";
      else if (sources.has(v)) why = `an input of the recording (${sources.get(v)})`;
      else if (v.startsWith(`${REC}/`) && !v.split('/').includes('.ephys-make')) {
        const rest = v.slice(REC.length + 1);
        if (suffixes(rest).some((x) => matchesTail(x))) why = `a file matching recordings.match '${match}', which makes it a recording's marker`;
        else why = acquisitionFile(path.posix.basename(rest));
      } else if (v.startsWith(`${ROOT}/`) && matchesAll(v.slice(ROOT.length + 1))) {
        why = `a file matching recordings.match '${match}', which makes it a recording's marker`;
      }
      if (why) {
        diags.push({
          ...spanAt(src, segs),
          message: `stage '${s.name}': ${segs[2] === 'outputs' ? 'output' : 'in_place copy'} '${template}' can be ${why}; a recording's own files are never written or removed`,
        });
      }
    }
  }
  return diags;
}
