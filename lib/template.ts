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

/** Fill `{name}` from `lookup`; `{{` and `}}` stand for literal braces. */
export function fillPlaceholders(template: string, lookup: Lookup): string {
  if (!template.includes('{') && !template.includes('}')) return template;
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (m, name: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const v = lookup(name!.trim());
    if (v === undefined) throw new PlaceholderError(name!.trim(), template);
    return v;
  });
}

export function placeholdersIn(template: string): string[] {
  const out: string[] = [];
  template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (m, name) => { if (name !== undefined) out.push(name.trim()); return m; });
  return out;
}
