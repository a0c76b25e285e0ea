/** Worker thread of offsets.ts: one share of the channels' per-pass offsets and RMS. */
import { serveTasks } from '../../lib/base/workerPool.js';
import { serveChannelShares } from './offsets.js';

serveTasks(import.meta.url, serveChannelShares);
