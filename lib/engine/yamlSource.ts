/**
 * A parsed YAML file that remembers where every value came from, so a schema error on
 * `/stages/kilosort/resources/gpu` can underline that exact place.
 */
import fs from 'node:fs';
import { parseDocument, visit, LineCounter, isMap, isSeq, isScalar, isPair, type Alias, type Document, type Node } from 'yaml';
import type { ErrorObject } from 'ajv';
import { didYouMean, type Diagnostic, type SourceSpan } from '../base/diagnostic.js';

export interface YamlSource {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  value: unknown;
}

/** A pipeline or recording file is a page of settings: anything bigger is a mistake, not config. */
export const maxYamlBytes = 1024 * 1024;
/** Aliases expanded while reading: enough for any real file, far short of a "billion laughs". */
const maxAliasCount = 1000;

export function readYamlFile(file: string): { source?: YamlSource; diagnostics: Diagnostic[] } {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) return { diagnostics: [{ file, message: 'a folder, not a YAML file' }] };
    if (st.size > maxYamlBytes) {
      return { diagnostics: [{ file, message: `${(st.size / 1024 / 1024).toFixed(1)} MB is far more than any settings file (at most ${maxYamlBytes / 1024 / 1024} MB is read): is it the right file?` }] };
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (err: any) {
    return { diagnostics: [{ file, message: `cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message}` }] };
  }
  return parseYamlText(file, text);
}

export function parseYamlText(file: string, text: string): { source?: YamlSource; diagnostics: Diagnostic[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const diagnostics: Diagnostic[] = doc.errors.map((e) => {
    const at = lines.linePos(e.pos[0]);
    return { file, line: at.line, column: at.col, length: Math.max(1, e.pos[1] - e.pos[0]), message: `invalid YAML: ${e.message.split('\n')[0]}` };
  });
  if (diagnostics.length) return { diagnostics };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount }) ?? {};
  } catch (err) {
    return { diagnostics: [aliasProblem(file, doc, lines, err)] };
  }
  return { source: { file, doc, lines, value }, diagnostics };
}

/** toJS throws on an alias with no anchor and on aliases that expand without end: say where. */
function aliasProblem(file: string, doc: Document.Parsed, lines: LineCounter, err: unknown): Diagnostic {
  const aliases: Alias[] = [];
  visit(doc, { Alias(_, node) { aliases.push(node); } });
  const at = (node: Alias | undefined) => {
    if (!node?.range) return { file };
    const p = lines.linePos(node.range[0]);
    return { file, line: p.line, column: p.col, length: Math.max(1, node.range[1] - node.range[0]) };
  };
  const unresolved = aliases.find((a) => !a.resolve(doc));
  if (unresolved) return { ...at(unresolved), message: `invalid YAML: alias '*${unresolved.source}' has no anchor '&${unresolved.source}' before it` };
  if (/alias count|resource exhaustion/i.test(String((err as Error)?.message))) {
    return { ...at(aliases[0]), message: `invalid YAML: its aliases expand to more than ${maxAliasCount} copies (aliases of aliases); refusing to read it` };
  }
  return { file, message: `invalid YAML: ${(err as Error)?.message ?? err}` };
}

function spanOf(src: YamlSource, range: [number, number, number] | null | undefined): SourceSpan {
  if (!range) return { file: src.file };
  const at = src.lines.linePos(range[0]);
  const end = src.lines.linePos(range[1]);
  const length = end.line === at.line ? Math.max(1, end.col - at.col) : 1;
  return { file: src.file, line: at.line, column: at.col, length };
}

/** The place of the value at `segments` (or of its key, with `key`), falling back to the nearest parent. */
export function spanAt(src: YamlSource, segments: Array<string | number>, key = false): SourceSpan {
  let node: unknown = src.doc.contents;
  let best: SourceSpan = spanOf(src, (node as Node | null)?.range);
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      if (!pair) return best;
      const last = i === segments.length - 1;
      if (last && key) return spanOf(src, (pair.key as Node).range);
      node = pair.value;
      best = spanOf(src, ((node as Node | null)?.range) ?? (pair.key as Node).range);
    } else if (isSeq(node)) {
      node = node.items[Number(seg)];
      best = spanOf(src, (node as Node | null)?.range);
    } else {
      return best;
    }
  }
  return best;
}

export function pointerToSegments(pointer: string): string[] {
  if (!pointer) return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function dotted(segments: Array<string | number>): string {
  return segments.length ? segments.join('.') : '(top level)';
}

/**
 * One diagnostic per real mistake: alternatives of a oneOf/anyOf fail together, so their errors
 * are folded into "must be A or B" at the deepest path instead of a cascade.
 */
export function schemaErrorsToDiagnostics(errors: ErrorObject[], place: (segments: string[], key: boolean) => SourceSpan, what: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf' || e.keyword === 'if') continue;
    const list = byPath.get(e.instancePath) ?? [];
    list.push(e);
    byPath.set(e.instancePath, list);
  }
  // A parent whose child has a specific error only reports the child.
  const paths = [...byPath.keys()];
  for (const [p, list] of byPath) {
    const deeper = paths.some((q) => q !== p && q.startsWith(p + '/'));
    const segs = pointerToSegments(p);
    const types = list.filter((e) => e.keyword === 'type').map((e) => String(e.params.type));
    const others = list.filter((e) => e.keyword !== 'type');
    if (deeper && others.every((e) => e.keyword !== 'additionalProperties' && e.keyword !== 'required')) continue;
    if (types.length && !others.some((e) => e.keyword === 'additionalProperties' || e.keyword === 'required')) {
      out.push({ ...place(segs, false), message: `${what} ${dotted(segs)} must be ${[...new Set(types)].join(' or ')}, not ${describe(list[0].data)}` });
      continue;
    }
    const seen = new Set<string>();
    for (const e of others) {
      const d = oneError(e, segs, place, what);
      if (d && !seen.has(d.message)) { seen.add(d.message); out.push(d); }
    }
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

function oneError(e: ErrorObject, segs: string[], place: (segments: string[], key: boolean) => SourceSpan, what: string): Diagnostic | undefined {
  const where = dotted(segs);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const allowed = Object.keys((e.parentSchema as any)?.properties ?? {});
      return { ...place([...segs, key], true), message: `unknown key '${key}' in ${what} ${where}${didYouMean(key, allowed)}${allowed.length ? `; valid keys: ${allowed.join(', ')}` : ''}` };
    }
    case 'required':
      return { ...place(segs, true), message: `${what} ${where} is missing required key '${e.params.missingProperty}'` };
    case 'enum':
      return { ...place(segs, false), message: `${what} ${where} must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, not ${describe(e.data)}` };
    case 'const':
      return { ...place(segs, false), message: `${what} ${where} must be ${JSON.stringify(e.params.allowedValue)}, not ${describe(e.data)}` };
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
    case 'minItems': case 'maxItems': case 'minLength': case 'pattern': case 'minProperties': case 'multipleOf':
      return { ...place(segs, false), message: `${what} ${where} ${e.message} (got ${describe(e.data)})` };
    default:
      return { ...place(segs, false), message: `${what} ${where} ${e.message ?? 'is invalid'}` };
  }
}
