/**
 * `ephys-make report [-o report.html] [--pass RULES]`: the page as one self-contained HTML file,
 * to mail or archive. Every view's data is in the file (the board, the table, each recording's
 * results and runs, the logs of failed jobs, the depth figures as data: URIs); it opens from
 * file:// and asks the network for nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { writeFileAtomic } from '../base/atomicFile.js';
import { Board, countsLine } from '../report/board.js';
import { PageData, type LogTail, type RecordingDetail } from '../report/pageData.js';
import { pageHtml } from '../report/page.js';
import { allenThresholds, parseThresholds } from '../report/metricsTable.js';
import { checkServable } from '../report/serveFiles.js';
import { scoreGroundTruth } from './groundTruthScorer.js';

/** A figure larger than this stays out of the report (named, not embedded). */
const maxFigureBytes = 8 * 1024 * 1024;

export function report(o: CliOptions, io: Io): number {
  const thresholds = parseThresholds(o.pass ?? allenThresholds);
  if (!thresholds.ok) { io.err(`ephys-make: --pass ${thresholds.message}\n`); return 2; }
  const opened = Board.open(engineOptions({ ...o, targets: [] }, io));
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const board = opened.value;
  if (board.problems.length) printDiagnostics(io, board.problems);
  const data = new PageData(board, thresholds.value, scoreGroundTruth);
  const snapshot = data.snapshot();
  const details: Record<string, RecordingDetail> = {};
  const logs: Record<string, LogTail> = {};
  const files: Record<string, string> = {};
  for (const row of snapshot.recordings) {
    const d = data.detail(row.name);
    if (!d) continue;
    details[row.name] = d;
    const fig = d.results.figure;
    if (fig) {
      const check = checkServable(data.servableSource(), fig, maxFigureBytes);
      if (check.ok) files[fig] = `data:image/png;base64,${fs.readFileSync(check.file).toString('base64')}`;
    }
    row.cells.forEach((c, i) => {
      if (c?.s !== 'failed') return;
      const t = data.logTail(row.name, snapshot.stages[i]);
      if (!('error' in t)) logs[`${row.name}\n${snapshot.stages[i]}`] = t;
    });
  }
  const html = pageHtml({ title: `ephys-make report · ${path.basename(board.rootDir)}`, data: { board: snapshot, summary: data.summary(), details, logs, files } });
  const out = path.resolve(io.cwd, o.out ?? 'report.html');
  writeFileAtomic(out, html);
  io.out(`wrote ${path.relative(io.cwd, out) || out} (${(Buffer.byteLength(html) / 1e6).toFixed(1)} MB): ${countsLine(snapshot)}\n`);
  return 0;
}
