/** The worker thread of parallelPlan.ts. */
import { serveTasks } from '../base/workerPool.js';
import { serveQuietCheck } from './parallelPlan.js';

serveTasks(import.meta.url, serveQuietCheck);
