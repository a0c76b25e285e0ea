/**
 * `ephys-make serve [--port 8765] [--host H] [--pass RULES]`: the live page. It reads records,
 * runs.jsonl and declared outputs only; it notices jobs run by any process through file-system
 * events on the records' folders; its actions run the real CLI (or signal the process a record
 * names), so they take the same locks and write the same records as a command typed by hand.
 * `watch --serve` starts the same page beside a watch (`startServe`), which also feeds it progress.
 */
import path from 'node:path';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import type { EngineEvent } from '../engine/events.js';
import { Board } from '../report/board.js';
import { PageData } from '../report/pageData.js';
import { pageHtml } from '../report/page.js';
import { startServer, type ServeServer } from '../report/serveHttp.js';
import { Actions, type ActionState } from '../report/serveActions.js';
import { RecordsWatcher } from '../report/serveWatch.js';
import { allenThresholds, parseThresholds } from '../report/metricsTable.js';
import { scoreGroundTruth } from './groundTruthScorer.js';

/** Recordings that appear on a mount that reports no events are found by this slow rescan. */
const rescanMs = Number(process.env.EPHYS_MAKE_RESCAN_SECONDS ?? 60) * 1000;
/** A streaming stage reports progress many times a second; the page gets at most this many per job. */
const progressEveryMs = 250;

export interface ServeSession {
  url: string;
  server: ServeServer;
  /** Engine events of an in-process watch: progress, and a faster look at a job that started or ended. */
  handle(e: EngineEvent): void;
  close(): Promise<void>;
}

export async function serve(o: CliOptions, io: Io): Promise<number> {
  const s = await startServe(o, io);
  if (typeof s === 'number') return s;
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  io.err(`stopping (${signal})\n`);
  await s.close();
  return 130;
}

export async function startServe(o: CliOptions, io: Io): Promise<ServeSession | number> {
  const thresholds = parseThresholds(o.pass ?? allenThresholds);
  if (!thresholds.ok) { io.err(`ephys-make: --pass ${thresholds.message}\n`); return 2; }
  const eopts = engineOptions({ ...o, targets: o.command === 'watch' ? o.targets : [] }, io);
  const opened = Board.open(eopts);
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const board = opened.value;
  if (board.problems.length) printDiagnostics(io, board.problems);
  const data = new PageData(board, thresholds.value, scoreGroundTruth);
  const cliArgs = ['-f', board.pipelineFile, '--root', board.rootDir, ...o.sets.flatMap((s) => ['--set', s]), ...(o.checksum ? ['--checksum'] : [])];
  let server: ServeServer | undefined;
  const actions = new Actions(board, cliArgs, io.env, io.cwd, (a: ActionState) => server?.broadcast('action', a));
  const progress = new Map<string, { at: number; payload: unknown }>();
  const host = o.host ?? '127.0.0.1';
  try {
    server = await startServer(data, {
      page: () => pageHtml({ title: `ephys-make · ${path.basename(board.rootDir)}` }),
      action: (body) => actions.start(body),
      backlog: () => [...[...progress.values()].map((p) => ({ type: 'progress', data: p.payload })), ...actions.recent().filter((a) => a.state === 'running').map((a) => ({ type: 'action', data: a }))],
    }, { host, port: o.port ?? 8765 });
  } catch (err: any) {
    io.err(`ephys-make serve: cannot listen on ${host}:${o.port ?? 8765}: ${err.code === 'EADDRINUSE' ? 'the port is in use (pick another with --port, or --port 0 for any free one)' : err.message}\n`);
    return 2;
  }
  const srv = server;
  const changed = (names: string[]) => {
    const changes = names.flatMap((n) => board.refresh(n));
    for (const c of changes) if (c.cell?.s !== 'running') progress.delete(`${c.rec}\n${c.stage}`);
    if (changes.length) srv.broadcast('cells', changes);
  };
  const rescan = (pipelineChanged: boolean) => {
    const r = board.rescan(pipelineChanged);
    if (!r.ok) { io.err(`warning: ${r.diagnostics.map((d) => d.message).join('; ')}; the page keeps the last good pipeline\n`); return; }
    if (r.value) { if (board.problems.length) printDiagnostics(io, board.problems); watcher.sync(); srv.broadcast('board', board.snapshot()); }
  };
  const watcher: RecordsWatcher = new RecordsWatcher(
    { root: board.rootDir, pipelineFile: board.pipelineFile, recordings: () => board.recordings, jobsOf: (r) => board.jobsOf(r) },
    {
      changed,
      rescan: (pipelineChanged) => rescan(pipelineChanged),
    },
    rescanMs,
  );
  watcher.start();
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  if (!loopback) io.err(`warning: --host ${host}: the page is reachable from other machines; anyone with the address below can rerun, force and stop jobs\n`);
  io.out(`serving ${board.recordings.length} recording${board.recordings.length === 1 ? '' : 's'} under ${board.rootDir}\n`);
  io.out(`open ${srv.url}\n`);
  io.out(`token ${srv.token} (actions and every request need it)\n`);
  return {
    url: srv.url,
    server: srv,
    handle(e) {
      if (e.type === 'job-progress') {
        const key = `${e.job.recording.name}\n${e.job.stage.name}`;
        const now = Date.now();
        const last = progress.get(key);
        if (last && now - last.at < progressEveryMs) return;
        const payload = { rec: e.job.recording.name, stage: e.job.stage.name, ...e.progress };
        progress.set(key, { at: now, payload });
        srv.broadcast('progress', payload);
      } else if (e.type === 'job-started' || e.type === 'job-finished') {
        if (board.recording(e.job.recording.name)) changed([e.job.recording.name]);
        else rescan(false);
      }
    },
    async close() {
      watcher.close();
      await actions.stopAll();
      await srv.close();
    },
  };
}
