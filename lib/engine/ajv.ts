import { createRequire } from 'node:module';
import type { Options } from 'ajv';

type AjvClass = typeof import('ajv').default;
export type AjvInstance = InstanceType<AjvClass>;

/**
 * One Ajv configuration for every schema: all errors at once, defaults filled, verbose for hints.
 * Loaded on first use only: shipped schemas come precompiled, so most runs never need Ajv itself.
 */
export function newAjv(extra: Options = {}): AjvInstance {
  const mod = createRequire(import.meta.url)('ajv');
  const Ajv = (mod.default ?? mod) as AjvClass;
  return new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false, ...extra });
}
