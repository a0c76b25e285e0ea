// The page's data: asked of the server (`ephys-make serve`) or read from the data embedded in the
// file (`ephys-make report`). Plain browser script: the page's files are concatenated in order
// (api, grid, table, recording, history, app) into one inline script.

declare const Chart: any;

type CellState = 'done' | 'stale' | 'failed' | 'running' | 'queued' | 'cancelled' | 'blocked';
interface Cell { s: CellState; r?: string; t?: string; e?: string; pid?: number; host?: string }
interface BoardRow { name: string; cells: Array<Cell | null> }
interface Board { root: string; pipeline: string; stages: string[]; recordings: BoardRow[]; counts: Record<string, number>; generatedAt: string }
interface SummaryRow { name: string; state: CellState | 'none'; units: number | null; passing: number | null; noise: number | null; runSeconds: number; failedRuns: number; failedJobs: number }
interface StageTiming { stage: string; runs: number; medianSeconds: number; maxSeconds: number; slowestRecording: string }
interface Summary { thresholds: string; rows: SummaryRow[]; slowest: StageTiming[] }
interface Run { stage: string; status: string; start: string; end: string; seconds: number; host: string; pid: number; reason: string; attempt?: number; message?: string }
interface GroundTruth { detectableUnits: number; wellSortedUnits: number; meanAccuracy: number; goodAccuracy: number; minSnr: number; foundClusters: number; units: Array<{ unit: number; snr: number; accuracy: number; cluster: number; detectable: boolean }> }
interface Results {
  recording: string; units: number; noise: number; passing: number; metricsFile?: string;
  metrics: Record<string, number[]>; labels?: string[]; depthUm?: number[];
  waveforms: Array<{ cluster: number; channel: number; snr: number; passes: boolean; uv: number[] }>; sampleMs: number;
  figure?: string; groundTruth?: GroundTruth; missing: string[];
}
interface Detail { results: Results; runs: Run[]; thresholds: string }
interface LogTail { rec: string; stage: string; path: string; text: string; cut: boolean; sizeBytes: number; missing?: boolean }
interface ActionState { id: string; action: string; rec: string; stage: string; state: string; command?: string; exitCode?: number | null; output: string }
interface Progress { rec: string; stage: string; done: number; total: number; unit: string }
interface Embedded { board: Board; summary: Summary; details: Record<string, Detail>; logs: Record<string, LogTail>; files: Record<string, string> }

const embeddedNode = document.getElementById('ephys-make-data');
const embedded: Embedded | undefined = embeddedNode ? JSON.parse(embeddedNode.textContent || '{}') : undefined;
const isReport = !!embedded;
const token = new URLSearchParams(location.search).get('token') ?? '';

async function getJson<T>(route: string, params: Record<string, string> = {}): Promise<T> {
  const q = new URLSearchParams({ ...params, token });
  const res = await fetch(`${route}?${q}`);
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `${res.status}`);
  return body as T;
}

const api = {
  summary(): Promise<Summary> {
    return embedded ? Promise.resolve(embedded.summary) : getJson('/api/summary');
  },
  detail(rec: string): Promise<Detail> {
    if (embedded) return embedded.details[rec] ? Promise.resolve(embedded.details[rec]) : Promise.reject(new Error('not in this report'));
    return getJson('/api/recording', { rec });
  },
  log(rec: string, stage: string): Promise<LogTail> {
    if (embedded) {
      const l = embedded.logs[`${rec}\n${stage}`];
      return l ? Promise.resolve(l) : Promise.reject(new Error('this report keeps the logs of failed jobs only'));
    }
    return getJson('/api/log', { rec, stage });
  },
  /** A file's address: a data: URI in the report, the server's /api/file otherwise. */
  fileUrl(shown: string): string | undefined {
    if (embedded) return embedded.files[shown];
    return `/api/file?${new URLSearchParams({ path: shown, token })}`;
  },
  async action(action: string, rec: string, stage: string): Promise<{ id: string }> {
    const res = await fetch('/api/action', { method: 'POST', headers: { 'content-type': 'application/json', 'x-ephys-make-token': token }, body: JSON.stringify({ action, rec, stage }) });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ?? `${res.status}`);
    return body;
  },
};

function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function fmtElapsed(fromIso: string | undefined, now = Date.now()): string {
  if (!fromIso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function fmtTime(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString()}`;
}

function fmtNum(v: number | null | undefined, digits = 0): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

function el(id: string): HTMLElement {
  return document.getElementById(id)!;
}

const stateWord: Record<string, string> = { done: 'up to date', stale: 'stale', failed: 'failed', running: 'running', queued: 'queued', cancelled: 'cancelled', blocked: 'blocked', none: 'no jobs' };
