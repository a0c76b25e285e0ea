// The table across recordings: units, passing units, run time, failures; sorted by a click on a
// column, filtered by name, state or a minimum of passing units.

let summary: Summary | undefined;
let tableSort: { key: keyof SummaryRow; asc: boolean } = { key: 'name', asc: true };
let tableFilter = '';
let tableOnlyProblems = false;

const tableColumns: Array<{ key: keyof SummaryRow; label: string; num?: boolean; title?: string }> = [
  { key: 'name', label: 'recording' },
  { key: 'state', label: 'state', title: 'the worst state among its jobs' },
  { key: 'units', label: 'units', num: true, title: 'units in metrics.csv' },
  { key: 'passing', label: 'passing', num: true, title: 'units not labelled noise that pass every threshold' },
  { key: 'noise', label: 'noise', num: true },
  { key: 'runSeconds', label: 'run time', num: true, title: 'latest successful run of each stage, summed' },
  { key: 'failedRuns', label: 'failed runs', num: true, title: 'failed runs in runs.jsonl' },
  { key: 'failedJobs', label: 'failed now', num: true, title: 'jobs whose last run failed' },
];

const stateRank: Record<string, number> = { failed: 0, running: 1, blocked: 2, stale: 3, done: 4, none: 5 };

async function loadSummary(): Promise<void> {
  summaryStale = false;
  try {
    summary = await api.summary();
  } catch (err: any) {
    el('view-table').innerHTML = `<p class="missing">cannot load the table: ${esc(err.message)}</p>`;
    return;
  }
  if (route().view === 'table') renderTable();
  if (route().view === 'history') renderHistory();
}

function sortedRows(rows: SummaryRow[]): SummaryRow[] {
  const { key, asc } = tableSort;
  const val = (r: SummaryRow) => (key === 'state' ? stateRank[r.state] : r[key]);
  return [...rows].sort((a, b) => {
    const x = val(a), y = val(b);
    const c = x === null ? 1 : y === null ? -1 : typeof x === 'string' ? x.localeCompare(String(y)) : (x as number) - (y as number);
    return asc ? c : -c;
  });
}

function renderTable(): void {
  const view = el('view-table');
  if (!summary) { view.innerHTML = '<p class="muted">loading…</p>'; return; }
  const rows = sortedRows(summary.rows).filter((r) =>
    (!tableFilter || r.name.toLowerCase().includes(tableFilter)) &&
    (!tableOnlyProblems || r.state === 'failed' || r.failedJobs > 0 || r.state === 'blocked'));
  const totals = summary.rows.reduce((t, r) => ({ units: t.units + (r.units ?? 0), passing: t.passing + (r.passing ?? 0) }), { units: 0, passing: 0 });
  const head = tableColumns.map((c) => `<th data-key="${c.key}" class="${c.num ? 'num' : ''}${tableSort.key === c.key ? ` sorted${tableSort.asc ? ' asc' : ''}` : ''}" title="${esc(c.title ?? '')}">${c.label}</th>`).join('');
  const body = rows.map((r) => `<tr><td class="name"><a class="rec" href="#rec/${encodeURIComponent(r.name)}" title="${esc(r.name)}">${esc(r.name)}</a></td>
    <td><span class="state ${r.state}">${stateWord[r.state]}</span></td><td class="num">${fmtNum(r.units)}</td><td class="num">${fmtNum(r.passing)}</td>
    <td class="num">${fmtNum(r.noise)}</td><td class="num">${r.runSeconds ? fmtSeconds(r.runSeconds) : '–'}</td>
    <td class="num">${r.failedRuns || ''}</td><td class="num">${r.failedJobs || ''}</td></tr>`).join('');
  view.innerHTML = `<h2>Recordings: ${summary.rows.length}, ${totals.units} units, ${totals.passing} passing</h2>
    <div class="bar"><input type="search" id="table-filter" placeholder="filter recordings" value="${esc(tableFilter)}">
    <label><input type="checkbox" id="table-problems"${tableOnlyProblems ? ' checked' : ''}> only recordings with failures</label>
    <span class="muted">passing: ${esc(summary.thresholds)}, not labelled noise</span>
    <span class="muted">${rows.length === summary.rows.length ? '' : `${rows.length} shown`}</span></div>
    <div class="scroll"><table id="table"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
  const input = el('table-filter') as HTMLInputElement;
  input.addEventListener('input', () => { tableFilter = input.value.toLowerCase(); renderTable(); const i = el('table-filter') as HTMLInputElement; i.focus(); i.setSelectionRange(i.value.length, i.value.length); });
  el('table-problems').addEventListener('change', (e) => { tableOnlyProblems = (e.target as HTMLInputElement).checked; renderTable(); });
  view.querySelectorAll<HTMLElement>('th[data-key]').forEach((th) => th.addEventListener('click', () => {
    const key = th.dataset.key as keyof SummaryRow;
    tableSort = { key, asc: tableSort.key === key ? !tableSort.asc : key === 'name' };
    renderTable();
  }));
}
