// The history view: which stages take the time, over every recording's latest successful run.
// Each recording's own timeline is on its page.

let historyChart: any;

function renderHistory(): void {
  const view = el('view-history');
  if (historyChart) { historyChart.destroy(); historyChart = undefined; }
  if (!summary) { view.innerHTML = '<p class="muted">loading…</p>'; return; }
  const slow = summary.slowest;
  const rows = summary.rows.filter((r) => r.runSeconds > 0).sort((a, b) => b.runSeconds - a.runSeconds).slice(0, 15);
  view.innerHTML = `<h2>Run history: slowest stages</h2>
    <p class="muted">Over each recording's latest successful run of each stage (from runs.jsonl). A recording's own timeline is on its page.</p>
    ${slow.length ? `<div class="panels"><div class="panel wide tall"><h3>seconds per stage: median and slowest recording</h3><canvas id="slowest"></canvas></div></div>` : '<p class="missing">no runs recorded yet</p>'}
    <div class="row"><div class="panel"><h3>stages</h3><table id="slowest-table"><thead><tr><th>stage</th><th class="num">runs</th><th class="num">median</th><th class="num">slowest</th><th>slowest recording</th></tr></thead>
    <tbody>${slow.map((s) => `<tr><td>${esc(s.stage)}</td><td class="num">${s.runs}</td><td class="num">${fmtSeconds(s.medianSeconds)}</td><td class="num">${fmtSeconds(s.maxSeconds)}</td><td><a class="rec" href="#rec/${encodeURIComponent(s.slowestRecording)}">${esc(s.slowestRecording)}</a></td></tr>`).join('')}</tbody></table></div>
    <div class="panel"><h3>recordings that took longest</h3><table><thead><tr><th>recording</th><th class="num">run time</th><th class="num">failed runs</th></tr></thead>
    <tbody>${rows.map((r) => `<tr><td><a class="rec" href="#rec/${encodeURIComponent(r.name)}">${esc(r.name)}</a></td><td class="num">${fmtSeconds(r.runSeconds)}</td><td class="num">${r.failedRuns || ''}</td></tr>`).join('')}</tbody></table></div></div>`;
  const canvas = document.getElementById('slowest') as HTMLCanvasElement | null;
  if (canvas) historyChart = new Chart(canvas, {
    type: 'bar',
    data: { labels: slow.map((s) => s.stage), datasets: [
      { label: 'median', data: slow.map((s) => s.medianSeconds), backgroundColor: '#2f7ed8' },
      { label: 'slowest', data: slow.map((s) => s.maxSeconds), backgroundColor: '#b9c0c6' }] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, indexAxis: 'y', scales: { x: { title: { display: true, text: 'seconds' } } } },
  });
}
