/**
 * `{placeholder}` filling and shell-like word splitting, with no shell: the words become an
 * argument vector, so a folder named `a b; rm -rf $HOME` is one argument and nothing more.
 */

export type SplitResult = { ok: true; value: string[] } | { ok: false; error: string };

/** Split like a POSIX shell splits words: quotes and backslashes respected, nothing expanded. */
export function splitWords(text: string): SplitResult {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { ok: false, error: `unterminated single quote at character ${i + 1}` };
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`'.includes(text[j + 1])) j++;
        cur += text[j];
      }
      if (j >= text.length) return { ok: false, error: `unterminated double quote at character ${i + 1}` };
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 < text.length) { cur += text[++i]; inWord = true; }
    } else if (/\s/.test(c)) {
      if (inWord) { words.push(cur); cur = ''; inWord = false; }
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return { ok: true, value: words };
}

export type Lookup = (name: string) => string | undefined;

export class PlaceholderError extends Error {
  constructor(readonly placeholder: string, readonly template: string) {
    super(`unknown placeholder {${placeholder}} in "${template}"`);
  }
}

/** A template split once into literal text (even indexes) and placeholder names (odd indexes). */
const compiled = new Map<string, string[]>();
function partsOf(template: string): string[] {
  let parts = compiled.get(template);
  if (!parts) {
    parts = [''];
    let last = 0;
    for (const m of template.matchAll(/\{\{|\}\}|\{([^{}]*)\}/g)) {
      parts[parts.length - 1] += template.slice(last, m.index);
      if (m[1] === undefined) parts[parts.length - 1] += m[0][0];
      else parts.push(m[1].trim(), '');
      last = m.index! + m[0].length;
    }
    parts[parts.length - 1] += template.slice(last);
    // Planning fills the same few templates for every recording: keep them, within reason.
    if (compiled.size > 50_000) compiled.clear();
    compiled.set(template, parts);
  }
  return parts;
}

/** Fill `{name}` from `lookup`; `{{` and `}}` stand for literal braces. */
export function fillPlaceholders(template: string, lookup: Lookup): string {
  if (!template.includes('{') && !template.includes('}')) return template;
  const parts = partsOf(template);
  let out = parts[0];
  for (let i = 1; i < parts.length; i += 2) {
    const v = lookup(parts[i]);
    if (v === undefined) throw new PlaceholderError(parts[i], template);
    out += v + parts[i + 1];
  }
  return out;
}
