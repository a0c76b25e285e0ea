// The jobs view: recordings x stages coloured by state, live; a click on a cell opens its details
// (reason, times, log tail and path) and, on the served page, its actions. Only the rows near the
// view are in the page, so 1,000 recordings draw as fast as 30 and a changed job redraws one cell.

let board: Board | undefined;
const rowOf = new Map<string, number>();
const progressOf = new Map<string, Progress>();
let gridFilter = '';
const gridStates = new Set<string>();
let selected: { rec: string; stage: string } | undefined;

function cellText(c: Cell | null, rec: string, stage: string): string {
  if (!c) return '';
  if (c.s === 'running') {
    const p = progressOf.get(`${rec}\n${stage}`);
    const pct = p && p.total > 0 ? `${Math.floor((100 * p.done) / p.total)}% · ` : 'running ';
    return `${pct}${fmtElapsed(c.t)}`;
  }
  // The colour says it; a tick keeps 8,000 green cells quiet so the others stand out.
  return c.s === 'done' ? '✓' : c.s;
}

function cellHtml(c: Cell | null, r: number, s: number, rec: string, stage: string): string {
  const cls = c ? c.s : 'none';
  const sel = selected && selected.rec === rec && selected.stage === stage ? ' sel' : '';
  const title = c ? `${stage}: ${stateWord[c.s]}${c.r ? ` — ${c.r}` : ''}` : `${stage}: no job`;
  return `<td class="c ${cls}${sel}" id="c${r}_${s}" data-r="${r}" data-s="${s}" title="${esc(title)}">${esc(cellText(c, rec, stage))}</td>`;
}

function rowVisible(row: BoardRow): boolean {
  if (gridFilter && !row.name.toLowerCase().includes(gridFilter)) return false;
  if (gridStates.size && !row.cells.some((c) => c && gridStates.has(c.s))) return false;
  return true;
}

/** Rows that pass the filter, as indices into the board; only those near the view are in the DOM. */
let gridRows: number[] = [];
let rowHeightPx = 22;
let drawnRange = '';
/** Rows drawn beyond the visible ones, above and below, so a scroll shows rows already there. */
const overscanRows = 30;

function rowHtml(b: Board, r: number): string {
  const row = b.recordings[r];
  return `<tr><td class="name"><a class="rec" href="#rec/${encodeURIComponent(row.name)}" title="${esc(row.name)}">${esc(row.name)}</a></td>${row.cells.map((c, s) => cellHtml(c, r, s, row.name, b.stages[s])).join('')}</tr>`;
}

/** Draw the rows in and near the scrolled view; padding rows stand in for the others. */
function drawRows(force = false): void {
  const b = board;
  const sc = document.getElementById('grid-scroll');
  const body = document.getElementById('grid-body');
  if (!b || !sc || !body) return;
  const first = Math.max(0, Math.floor(sc.scrollTop / rowHeightPx) - overscanRows);
  const last = Math.min(gridRows.length, Math.ceil((sc.scrollTop + sc.clientHeight) / rowHeightPx) + overscanRows);
  const range = `${first}:${last}`;
  if (!force && range === drawnRange) return;
  drawnRange = range;
  const pad = (n: number) => (n > 0 ? `<tr class="pad"><td colspan="${b.stages.length + 1}" style="height:${n * rowHeightPx}px"></td></tr>` : '');
  const rows: string[] = [];
  for (let k = first; k < last; k++) rows.push(rowHtml(b, gridRows[k]));
  body.innerHTML = pad(first) + rows.join('') + pad(gridRows.length - last);
  const drawn = body.querySelector('tr:not(.pad)');
  const h = drawn?.getBoundingClientRect().height;
  // The first drawing tells the real row height; draw again if the guess was off.
  if (h && Math.abs(h - rowHeightPx) > 0.5) { rowHeightPx = h; drawRows(true); }
}

function renderGrid(): void {
  const view = el('view-grid');
  if (!board) { view.innerHTML = '<p class="muted">loading…</p>'; return; }
  const b = board;
  rowOf.clear();
  b.recordings.forEach((r, i) => rowOf.set(r.name, i));
  gridRows = [];
  b.recordings.forEach((row, r) => { if (rowVisible(row)) gridRows.push(r); });
  const chips = (['failed', 'running', 'queued', 'stale', 'cancelled', 'blocked', 'done'] as const).map((s) =>
    `<span class="chip${gridStates.has(s) ? ' on' : ''}" data-state="${s}"><i class="${s}"></i>${stateWord[s]} <b>${b.counts[stateWord[s]] ?? 0}</b></span>`).join('');
  const head = `<tr><th class="rec">recording</th>${b.stages.map((s) => `<th class="stage" title="${esc(s)}">${esc(s.replace(/_/g, ' '))}</th>`).join('')}</tr>`;
  const shown = gridRows.length;
  view.innerHTML = `<h2>Jobs: ${b.recordings.length} recordings × ${b.stages.length} stages</h2>
    <div class="bar"><input type="search" id="grid-filter" placeholder="filter recordings" value="${esc(gridFilter)}">${chips}
    <span class="muted" id="grid-shown">${shown === b.recordings.length ? '' : `${shown} shown`}</span></div>
    <div class="scroll" id="grid-scroll"><table id="grid" style="width:${300 + 110 * b.stages.length}px"><thead>${head}</thead><tbody id="grid-body"></tbody></table></div>`;
  drawRows(true);
  const sc = el('grid-scroll');
  let pending = false;
  sc.addEventListener('scroll', () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; drawRows(); }); } });
  const input = el('grid-filter') as HTMLInputElement;
  input.addEventListener('input', () => { gridFilter = input.value.toLowerCase(); renderGrid(); const i = el('grid-filter') as HTMLInputElement; i.focus(); i.setSelectionRange(i.value.length, i.value.length); });
  view.querySelectorAll<HTMLElement>('.chip').forEach((chip) => chip.addEventListener('click', () => {
    const s = chip.dataset.state!;
    if (gridStates.has(s)) gridStates.delete(s); else gridStates.add(s);
    renderGrid();
  }));
  el('grid').addEventListener('click', (ev) => {
    const td = (ev.target as HTMLElement).closest('td.c') as HTMLElement | null;
    if (!td || td.classList.contains('none')) return;
    const row = b.recordings[Number(td.dataset.r)];
    openCell(row.name, b.stages[Number(td.dataset.s)]);
  });
}

/** One job changed: redraw its cell only (and the drawer when it shows that job). */
function updateCell(rec: string, stage: string, cell: Cell | null): void {
  if (!board) return;
  const r = rowOf.get(rec);
  const s = board.stages.indexOf(stage);
  if (r === undefined || s < 0) return;
  board.recordings[r].cells[s] = cell;
  if (cell?.s !== 'running') progressOf.delete(`${rec}\n${stage}`);
  const td = document.getElementById(`c${r}_${s}`);
  if (td) td.outerHTML = cellHtml(cell, r, s, rec, stage);
  if (selected && selected.rec === rec && selected.stage === stage) openCell(rec, stage);
}

/** Running cells count their elapsed time in the browser; the server sends nothing for it. */
function tickRunning(): void {
  if (!board) return;
  document.querySelectorAll<HTMLElement>('#grid td.c.running').forEach((td) => {
    const row = board!.recordings[Number(td.dataset.r)];
    const stage = board!.stages[Number(td.dataset.s)];
    td.textContent = cellText(row.cells[Number(td.dataset.s)], row.name, stage);
  });
}

async function openCell(rec: string, stage: string): Promise<void> {
  if (!board) return;
  const prev = document.querySelector('#grid td.c.sel');
  prev?.classList.remove('sel');
  selected = { rec, stage };
  const r = rowOf.get(rec)!, s = board.stages.indexOf(stage);
  document.getElementById(`c${r}_${s}`)?.classList.add('sel');
  const c = board.recordings[r]?.cells[s];
  const d = el('drawer');
  d.classList.add('open');
  const p = progressOf.get(`${rec}\n${stage}`);
  const actions = isReport || !c ? '' : `<div class="bar">
      ${c.s === 'running' ? `<button class="act warn" data-act="stop">Stop this job</button>` : `<button class="act" data-act="rerun">Rerun this job</button>`}
      ${c.s !== 'running' ? `<button class="act" data-act="force">Force ${esc(stage)}</button>` : ''}</div><div id="act-msg" class="actions-log"></div>`;
  d.innerHTML = `<button class="close" title="close">×</button><h2>${esc(stage)} · ${esc(rec)}</h2>
    <dl><dt>state</dt><dd><span class="state ${c?.s ?? 'none'}">${esc(stateWord[c?.s ?? 'none'])}</span></dd>
    ${c?.r ? `<dt>${c.s === 'stale' ? 'reason' : c.s === 'running' ? 'process' : 'why'}</dt><dd>${esc(c.r)}</dd>` : ''}
    ${c?.t ? `<dt>started</dt><dd>${esc(fmtTime(c.t))}${c.s === 'running' ? ` (${fmtElapsed(c.t)} ago)` : ''}</dd>` : ''}
    ${c?.e ? `<dt>ended</dt><dd>${esc(fmtTime(c.e))} (${fmtSeconds((Date.parse(c.e) - Date.parse(c.t ?? c.e)) / 1000)})</dd>` : ''}
    ${p ? `<dt>progress</dt><dd>${Math.floor((100 * p.done) / Math.max(1, p.total))}% (${p.done} of ${p.total} ${esc(p.unit)})</dd>` : ''}
    <dt>log</dt><dd><code id="log-path">…</code></dd></dl>
    ${actions}<h3>log tail</h3><pre class="log" id="log-tail">loading…</pre>`;
  d.querySelector('.close')!.addEventListener('click', closeDrawer);
  d.querySelectorAll<HTMLButtonElement>('button.act').forEach((b) => b.addEventListener('click', () => runAction(b.dataset.act!, rec, stage)));
  const last = actionOf.get(`${rec}\n${stage}`);
  if (last) showAction(last);
  try {
    const t = await api.log(rec, stage);
    const pre = document.getElementById('log-tail');
    if (pre && selected?.rec === rec && selected.stage === stage) {
      el('log-path').textContent = t.path;
      pre.textContent = t.missing ? '(no log yet)' : (t.cut ? `… (last ${t.text.length} of ${t.sizeBytes} bytes)\n` : '') + (t.text || '(empty)');
      pre.scrollTop = pre.scrollHeight;
    }
  } catch (err: any) {
    const pre = document.getElementById('log-tail');
    if (pre) pre.textContent = `(${err.message})`;
    const where = document.getElementById('log-path');
    if (where) where.textContent = '–';
  }
}

function closeDrawer(): void {
  el('drawer').classList.remove('open');
  document.querySelector('#grid td.c.sel')?.classList.remove('sel');
  selected = undefined;
}

async function runAction(action: string, rec: string, stage: string): Promise<void> {
  const msg = document.getElementById('act-msg');
  try {
    const r = await api.action(action, rec, stage);
    if (msg) msg.textContent = `${action} started (action ${r.id})`;
  } catch (err: any) {
    if (msg) msg.textContent = `refused: ${err.message}`;
  }
}

/** The last action on each job: the drawer is redrawn when the job's cell changes, and must keep saying how it ended. */
const actionOf = new Map<string, ActionState>();

function showAction(a: ActionState): void {
  actionOf.set(`${a.rec}\n${a.stage}`, a);
  const msg = document.getElementById('act-msg');
  if (!msg || !selected || selected.rec !== a.rec || selected.stage !== a.stage) return;
  const tail = a.output.split('\n').slice(-12).join('\n');
  msg.innerHTML = `<b>${esc(a.action)}</b> ${esc(a.state)}${a.exitCode != null ? ` (exit ${a.exitCode})` : ''}${a.command ? `<br><code>${esc(a.command)}</code>` : ''}<pre class="log">${esc(tail)}</pre>`;
}
