/** Which acquisition layout a recording has, and the ephys_params it implies. */
import type { Layout } from './config.js';
import type { Recording } from './recordings.js';
import type { Layer } from './inputJson.js';
import { ok, type Result } from './diagnostic.js';

export function layoutLayer(_layout: Layout, _rec: Recording): Result<Layer | undefined> {
  return ok(undefined);
}
