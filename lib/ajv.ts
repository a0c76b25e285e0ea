import Ajv, { type Options } from 'ajv';

/** One Ajv configuration for every schema: all errors at once, defaults filled, verbose for hints. */
export function newAjv(extra: Options = {}) {
  // ajv's CommonJS default export needs unwrapping under nodenext.
  const AjvClass = ((Ajv as any).default ?? Ajv) as typeof Ajv.default;
  return new AjvClass({ allErrors: true, useDefaults: true, verbose: true, strict: false, ...extra });
}
