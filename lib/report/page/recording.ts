// One recording's results: units found and passing, quality-metric histograms, firing rate and
// amplitude against depth, the depth-estimation figure, mean waveforms of the best units, the
// ground-truth comparison, its jobs and its run timeline. Drawn with Chart.js.

let charts: any[] = [];
const colours = { pass: '#2e9d57', fail: '#b9c0c6', noise: '#e3a9a4', line: '#2f7ed8', done: '#2e9d57', failed: '#d1453b', interrupted: '#e0a526', adopted: '#8d8d8d' };
const histogramMetrics = ['isi_viol', 'amplitude_cutoff', 'presence_ratio', 'firing_rate', 'snr', 'isolation_distance', 'd_prime', 'nn_hit_rate'];

function clearCharts(): void {
  for (const c of charts) c.destroy();
  charts = [];
}

function chart(canvasId: string, config: any): void {
  const canvas = document.getElementById(canvasId) as HTMLCanvasElement | null;
  if (!canvas) return;
  config.options = { animation: false, responsive: true, maintainAspectRatio: false, ...config.options };
  charts.push(new Chart(canvas, config));
}

interface Rule { metric: string; op: string; value: number }

function parseRules(text: string): Rule[] {
  return text.split(',').map((p) => /^\s*(\w+)\s*(<=|>=|<|>)\s*(-?[\d.eE-]+)\s*$/.exec(p)).filter((m): m is RegExpExecArray => !!m).map((m) => ({ metric: m[1], op: m[2], value: Number(m[3]) }));
}

function passesRule(r: Rule, v: number): boolean {
  if (v === null || v === undefined || Number.isNaN(v)) return false;
  return r.op === '<' ? v < r.value : r.op === '>' ? v > r.value : r.op === '<=' ? v <= r.value : v >= r.value;
}

function unitPasses(res: Results, rules: Rule[], i: number): boolean {
  return res.labels?.[i] !== 'noise' && rules.every((r) => passesRule(r, res.metrics[r.metric]?.[i]));
}

async function renderRecording(name: string): Promise<void> {
  const view = el('view-rec');
  clearCharts();
  view.innerHTML = `<h2>${esc(name)}</h2><p class="muted">loading…</p>`;
  let d: Detail;
  try {
    d = await api.detail(name);
  } catch (err: any) {
    view.innerHTML = `<h2>${esc(name)}</h2><p class="missing">${esc(err.message)}</p>`;
    return;
  }
  if (route().view !== 'rec' || route().rec !== name) return;
  const res = d.results;
  const rules = parseRules(d.thresholds.replace(/ /g, ''));
  const gt = res.groundTruth;
  const row = board?.recordings.find((r) => r.name === name);
  const jobs = row && board ? board.stages.map((s, i) => { const c = row.cells[i]; return `<span class="chip" title="${esc(c?.r ?? '')}"><i class="${c?.s ?? 'none'}"></i>${esc(s)}</span>`; }).join(' ') : '';
  const hist = histogramMetrics.filter((m) => res.metrics[m]);
  view.innerHTML = `<h2>${esc(name)}</h2>
    <div class="bar">${jobs}</div>
    <div class="cards">
      <div class="card"><span class="muted">units found</span><b id="n-units">${res.units}</b></div>
      <div class="card"><span class="muted">passing</span><b id="n-passing">${res.passing}</b><span class="muted">${esc(d.thresholds)}</span></div>
      <div class="card"><span class="muted">labelled noise</span><b>${res.noise}</b></div>
      ${gt ? `<div class="card"><span class="muted">ground truth: well sorted</span><b id="gt-well">${gt.wellSortedUnits} of ${gt.detectableUnits}</b><span class="muted">accuracy ≥ ${gt.goodAccuracy}, SNR > ${gt.minSnr}; mean ${gt.meanAccuracy.toFixed(2)}</span></div>` : ''}
      ${res.metricsFile ? `<div class="card"><span class="muted">metrics</span><br><a href="${esc(api.fileUrl(res.metricsFile) ?? '#')}" download>${esc(res.metricsFile)}</a></div>` : ''}
    </div>
    ${res.missing.length ? `<p class="missing">${res.missing.map(esc).join('<br>')}</p>` : ''}
    ${hist.length ? `<h3 class="section">Quality metrics (green: units that pass, grey: the others)</h3><div class="panels">${hist.map((m) => `<div class="panel"><h3>${esc(m)}${rules.filter((r) => r.metric === m).map((r) => ` ${r.op} ${r.value}`).join('')}</h3><canvas id="h-${m}"></canvas></div>`).join('')}</div>` : ''}
    <h3 class="section">Along the probe</h3><div class="panels">
      ${res.depthUm ? `<div class="panel tall"><h3>firing rate against depth</h3><canvas id="depth-rate"></canvas></div>
      <div class="panel tall"><h3>amplitude against depth</h3><canvas id="depth-amp"></canvas></div>` : ''}
      ${res.figure ? `<div class="panel"><h3>depth estimation</h3><img id="depth-figure" alt="depth-estimation figure" src="${esc(api.fileUrl(res.figure) ?? '')}"></div>` : ''}
    </div>
    ${res.waveforms.length ? `<h3 class="section">Mean waveforms on the peak channel: passing units first, then the other units not labelled noise, by SNR</h3><div class="panels">${res.waveforms.map((w, i) => `<div class="panel"><h3>unit ${w.cluster} · channel ${w.channel} · SNR ${w.snr.toFixed(1)}${w.passes ? ' · passes' : ' · does not pass'}</h3><canvas id="wf-${i}"></canvas></div>`).join('')}</div>` : ''}
    ${gt ? `<h3 class="section">Against the ground truth</h3><div class="panels"><div class="panel wide tall"><h3>accuracy of each ground-truth unit against its SNR</h3><canvas id="gt-acc"></canvas></div></div>` : ''}
    <h3 class="section">Run history (${d.runs.length} runs)</h3>
    <div class="panels"><div class="panel wide tall"><h3>timeline</h3><canvas id="timeline"></canvas></div></div>
    <div class="scroll" style="max-height:320px;margin-top:8px"><table><thead><tr><th>stage</th><th>status</th><th>start</th><th class="num">took</th><th>host / pid</th><th>reason</th></tr></thead>
    <tbody>${[...d.runs].reverse().map((r) => `<tr><td>${esc(r.stage)}</td><td><span class="state ${r.status === 'done' ? 'done' : r.status === 'failed' ? 'failed' : 'stale'}">${esc(r.status)}</span></td><td>${esc(fmtTime(r.start))}</td><td class="num">${fmtSeconds(r.seconds)}</td><td>${esc(r.host)} / ${r.pid}</td><td>${esc(r.reason)}${r.message ? ` — ${esc(r.message)}` : ''}</td></tr>`).join('')}</tbody></table></div>`;
  for (const m of hist) histogram(m, res, rules);
  if (res.depthUm) {
    depthScatter('depth-rate', res, rules, 'firing_rate', 'firing rate (Hz)');
    depthScatter('depth-amp', res, rules, 'amplitude', 'amplitude (µV)');
  }
  res.waveforms.forEach((w, i) => chart(`wf-${i}`, {
    type: 'line',
    data: { labels: w.uv.map((_, k) => (k * res.sampleMs).toFixed(2)), datasets: [{ data: w.uv, borderColor: w.passes ? colours.pass : '#7d8a96', borderWidth: 1.5, pointRadius: 0 }] },
    options: { plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: 'ms' }, ticks: { maxTicksLimit: 6 } }, y: { title: { display: true, text: 'µV' } } } },
  }));
  if (gt) gtScatter(gt);
  timeline(d.runs);
}

function histogram(metric: string, res: Results, rules: Rule[]): void {
  const values = res.metrics[metric].map((v, i) => ({ v, pass: unitPasses(res, rules, i) })).filter((x) => Number.isFinite(x.v));
  if (!values.length) return;
  const sorted = values.map((x) => x.v).sort((a, b) => a - b);
  let lo = sorted[0], hi = sorted[sorted.length - 1];
  // A few huge values (isolation distances of 1e18) would squeeze every other unit into one bin.
  const q98 = sorted[Math.floor(0.98 * (sorted.length - 1))];
  const clipped = hi - lo > 10 * (q98 - lo) && q98 > lo;
  if (clipped) hi = q98;
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  const bins = 20, w = (hi - lo) / bins;
  const pass = new Array(bins).fill(0), fail = new Array(bins).fill(0);
  for (const x of values) { const b = Math.max(0, Math.min(bins - 1, Math.floor((x.v - lo) / w))); (x.pass ? pass : fail)[b]++; }
  if (clipped) {
    const title = document.querySelector(`#h-${metric}`)?.previousElementSibling;
    if (title) title.textContent += ` (${values.filter((x) => x.v > hi).length} above ${hi.toPrecision(3)} in the last bar)`;
  }
  const labels = pass.map((_, b) => (lo + (b + 0.5) * w).toPrecision(3));
  chart(`h-${metric}`, {
    type: 'bar',
    data: { labels, datasets: [{ label: 'pass', data: pass, backgroundColor: colours.pass }, { label: 'other', data: fail, backgroundColor: colours.fail }] },
    options: { plugins: { legend: { display: false } }, scales: { x: { stacked: true, ticks: { maxTicksLimit: 6 } }, y: { stacked: true, title: { display: true, text: 'units' }, ticks: { precision: 0 } } } },
  });
}

function depthScatter(id: string, res: Results, rules: Rule[], metric: string, label: string): void {
  const xs = res.metrics[metric];
  if (!xs || !res.depthUm) return;
  const pts = (want: boolean) => xs.map((x, i) => ({ x, y: res.depthUm![i], p: unitPasses(res, rules, i) })).filter((q) => q.p === want && Number.isFinite(q.x) && Number.isFinite(q.y));
  chart(id, {
    type: 'scatter',
    data: { datasets: [{ label: 'passing', data: pts(true), backgroundColor: colours.pass }, { label: 'other', data: pts(false), backgroundColor: colours.fail }] },
    options: { scales: { x: { title: { display: true, text: label } }, y: { title: { display: true, text: 'depth along the probe (µm from the tip)' } } } },
  });
}

function gtScatter(gt: GroundTruth): void {
  const pts = (det: boolean) => gt.units.filter((u) => u.detectable === det).map((u) => ({ x: u.snr, y: u.accuracy }));
  chart('gt-acc', {
    type: 'scatter',
    data: { datasets: [{ label: `SNR > ${gt.minSnr} (should be found)`, data: pts(true), backgroundColor: colours.line }, { label: 'fainter units', data: pts(false), backgroundColor: colours.fail }] },
    options: { scales: { x: { type: 'logarithmic', title: { display: true, text: 'SNR (peak amplitude / noise)' } }, y: { min: 0, max: 1.05, ticks: { callback: (v: number) => (v <= 1 ? v.toFixed(1) : '') }, title: { display: true, text: 'accuracy' } } } },
  });
}

function timeline(runs: Run[]): void {
  const shown = runs.slice(-60);
  if (!shown.length) return;
  const t0 = Math.min(...shown.map((r) => Date.parse(r.start)));
  const stages = [...new Set(shown.map((r) => r.stage))];
  const data = shown.map((r) => ({ y: r.stage, x: [(Date.parse(r.start) - t0) / 1000, Math.max((Date.parse(r.end) - t0) / 1000, (Date.parse(r.start) - t0) / 1000 + 0.2)], run: r }));
  chart('timeline', {
    type: 'bar',
    data: { labels: stages, datasets: [{ data, backgroundColor: data.map((d) => (colours as any)[d.run.status] ?? colours.fail), borderSkipped: false, barPercentage: 0.7, grouped: false }] },
    options: {
      indexAxis: 'y',
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (ctx: any) => { const r = ctx.raw.run as Run; return `${r.status}, ${fmtSeconds(r.seconds)}, ${fmtTime(r.start)} on ${r.host} (pid ${r.pid}): ${r.reason}`; } } } },
      scales: { x: { type: 'linear', title: { display: true, text: `seconds since ${fmtTime(new Date(t0).toISOString())}` } } },
    },
  });
}
