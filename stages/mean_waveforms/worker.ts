/** Worker thread of gather.ts: adds the snippets of its share of the units, one read at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { SnippetAdder, type ReadRange, type SumLayout } from './gather.js';

const { layout, module, part, stride } = workerData as { layout: SumLayout; module: WebAssembly.Module | undefined; part: number; stride: number };
const adder = new SnippetAdder(layout, module);

parentPort!.on('message', (m: { id: number; range: ReadRange; slot: number }) => {
  adder.addRange(m.range, m.slot, part, stride);
  parentPort!.postMessage(m.id);
});
