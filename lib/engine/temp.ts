/** `temp: true` outputs are removed once every job consuming them in this run succeeded. */
import fs from 'node:fs';
import type { Job } from './job.js';
import { updateRecord } from './record.js';

export function removeTempOutputs(finished: Job, isSettled: (j: Job) => boolean): void {
  for (const producer of finished.deps) {
    if (!producer.stage.temp) continue;
    const consumers = producer.consumers;
    if (!consumers.length || consumers.length < producer.consumerStages || !consumers.every(isSettled)) continue;
    for (const out of producer.outputs) fs.rmSync(out, { force: true });
    updateRecord(producer.stateDir, producer.stage.name, (old) => (old && old.status === 'done' ? { ...old, tempRemoved: true } : old));
  }
}
