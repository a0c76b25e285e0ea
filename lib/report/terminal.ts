/** On a terminal: the same event lines, plus one status line redrawn below them. */
import type { EngineEvent } from '../engine/events.js';
import type { Job } from '../engine/job.js';
import { eventLine, progressText } from './plain.js';

export class TerminalReport {
  private total = 0;
  private finished = 0;
  private running = new Map<string, { job: Job; since: number; progress?: string }>();
  private started = Date.now();
  private timer: NodeJS.Timeout;
  private statusShown = false;
  /** Watch mode: the status line shows the watch's counts instead of done/total. */
  private watch: Extract<EngineEvent, { type: 'watch-status' }> | undefined;

  constructor(private write: (t: string) => void) {
    this.timer = setInterval(() => this.draw(), 1000);
    this.timer.unref();
  }

  handle(e: EngineEvent): void {
    if (e.type === 'plan') this.total += e.toRun;
    if (e.type === 'watch-status') this.watch = e;
    if (e.type === 'job-started') this.running.set(e.job.id, { job: e.job, since: Date.now() });
    if (e.type === 'job-progress') { const r = this.running.get(e.job.id); if (r) r.progress = progressText(e.progress); }
    if (e.type === 'job-finished') { this.running.delete(e.job.id); if (!e.willRetry) this.finished++; }
    if (e.type === 'job-skipped' && e.why !== 'adopted' && e.why !== 'confirmed') this.finished++;
    const line = eventLine(e);
    if (line !== undefined) { this.clear(); this.write(line + '\n'); }
    this.draw();
  }

  close(): void {
    clearInterval(this.timer);
    this.clear();
  }

  private clear(): void {
    if (this.statusShown) { this.write('\r\x1b[K'); this.statusShown = false; }
  }

  private draw(): void {
    if (this.watch) return this.show(this.watchText(this.watch));
    if (!this.total && !this.running.size) return;
    const secs = Math.floor((Date.now() - this.started) / 1000);
    const elapsed = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')}`;
    const jobs = [...this.running.values()].slice(0, 3).map((r) => `${r.job.recording.name} ${r.job.stage.name}${r.progress ? ` ${r.progress}` : ''}`).join(' | ');
    const more = this.running.size > 3 ? ` +${this.running.size - 3}` : '';
    const eta = this.finished > 0 && this.finished < this.total ? ` eta ${Math.round(((Date.now() - this.started) / this.finished) * (this.total - this.finished) / 1000)} s` : '';
    this.show(`[${this.finished}/${this.total}] ${elapsed}${eta}${jobs ? ` running: ${jobs}${more}` : ''}`);
  }

  private watchText(w: Extract<EngineEvent, { type: 'watch-status' }>): string {
    const jobs = [...this.running.values()].slice(0, 3).map((r) => `${r.job.recording.name} ${r.job.stage.name}${r.progress ? ` ${r.progress}` : ''}`).join(' | ');
    const more = this.running.size > 3 ? ` +${this.running.size - 3}` : '';
    const parts = [`watching ${w.recordings} recording${w.recordings === 1 ? '' : 's'}`];
    if (w.settling) parts.push(`${w.settling} being written`);
    if (w.queued) parts.push(`${w.queued} queued`);
    parts.push(jobs ? `running: ${jobs}${more}` : 'idle');
    parts.push(`${w.done} done`);
    if (w.failed) parts.push(`${w.failed} failed`);
    return parts.join(', ');
  }

  private show(text: string): void {
    const width = process.stdout.columns ?? 120;
    this.write('\r\x1b[K' + text.slice(0, width - 1));
    this.statusShown = true;
  }
}
