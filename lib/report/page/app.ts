// Routing between views (#jobs, #table, #history, #rec/NAME), the header, and live updates from
// the server's event stream: the board on connect, then one cell per changed job.

const views = ['grid', 'table', 'history', 'rec'] as const;

function route(): { view: typeof views[number]; rec?: string } {
  const h = decodeURIComponent(location.hash.slice(1));
  if (h.startsWith('rec/')) return { view: 'rec', rec: h.slice(4) };
  if (h === 'table' || h === 'history') return { view: h };
  return { view: 'grid' };
}

function renderCounts(): void {
  if (!board) return;
  const parts = Object.entries(board.counts).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`);
  el('counts').textContent = `${board.recordings.length} recordings: ${parts.join(', ') || 'no jobs'}`;
}

function recount(): void {
  if (!board) return;
  // The order of `status`'s closing line.
  const counts: Record<string, number> = { 'up to date': 0, stale: 0, failed: 0, running: 0, queued: 0, cancelled: 0, blocked: 0 };
  for (const r of board.recordings) for (const c of r.cells) if (c) counts[stateWord[c.s]]++;
  board.counts = counts;
  renderCounts();
  document.querySelectorAll<HTMLElement>('#view-grid .chip').forEach((chip) => {
    const b = chip.querySelector('b');
    if (b) b.textContent = String(counts[stateWord[chip.dataset.state!]] ?? 0);
  });
}

function show(): void {
  const r = route();
  for (const v of views) el(`view-${v}`).style.display = v === r.view ? '' : 'none';
  document.querySelectorAll<HTMLElement>('nav a').forEach((a) => a.classList.toggle('on', a.dataset.view === r.view));
  if (r.view !== 'grid') closeDrawer();
  if (r.view === 'grid') renderGrid();
  if (r.view === 'table' || r.view === 'history') {
    if (r.view === 'table') renderTable(); else renderHistory();
    if (summaryStale) loadSummary();
  }
  if (r.view === 'rec' && r.rec) { el('nav-rec').textContent = r.rec; el('nav-rec').style.display = ''; renderRecording(r.rec); }
}

let summaryTimer: number | undefined;
/** Whether the table across recordings is out of date; it is fetched only for the views that show it. */
let summaryStale = !isReport;
/** The table's numbers move only when results or runs change: fetch it again a little later, if shown. */
function summaryChanged(): void {
  if (isReport) return;
  summaryStale = true;
  const v = route().view;
  if (summaryTimer || (v !== 'table' && v !== 'history')) return;
  summaryTimer = window.setTimeout(() => { summaryTimer = undefined; loadSummary(); }, 1500);
}

function connect(): void {
  const live = el('live');
  const es = new EventSource(`/api/events?${new URLSearchParams({ token })}`);
  es.addEventListener('open', () => { live.classList.add('on'); live.title = 'live: updates as jobs change'; });
  es.addEventListener('error', () => { live.classList.remove('on'); live.title = 'disconnected: retrying'; });
  es.addEventListener('board', (e) => {
    performance.mark('board-received');
    board = JSON.parse((e as MessageEvent).data);
    el('where').textContent = `${board!.root} · ${board!.pipeline}`;
    renderCounts();
    if (route().view === 'grid') renderGrid();
    performance.mark('board-drawn');
    // Two frames later the grid has been laid out and painted.
    requestAnimationFrame(() => requestAnimationFrame(() => performance.mark('board-painted')));
    summaryChanged();
  });
  es.addEventListener('cells', (e) => {
    const changes: Array<{ rec: string; stage: string; cell: Cell | null }> = JSON.parse((e as MessageEvent).data);
    for (const c of changes) updateCell(c.rec, c.stage, c.cell);
    recount();
    summaryChanged();
  });
  es.addEventListener('progress', (e) => {
    const p: Progress = JSON.parse((e as MessageEvent).data);
    progressOf.set(`${p.rec}\n${p.stage}`, p);
  });
  es.addEventListener('action', (e) => showAction(JSON.parse((e as MessageEvent).data)));
}

function boot(): void {
  document.querySelectorAll<HTMLElement>('nav a').forEach((a) => a.addEventListener('click', () => { if (a.dataset.view === 'grid' && location.hash === '') show(); }));
  window.addEventListener('hashchange', show);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDrawer(); });
  if (embedded) {
    board = embedded.board;
    summary = embedded.summary;
    el('where').textContent = `${board.root} · ${board.pipeline} · report of ${fmtTime(board.generatedAt)}`;
    el('live').style.display = 'none';
    renderCounts();
  } else {
    connect();
  }
  show();
  window.setInterval(tickRunning, 1000);
}

boot();
