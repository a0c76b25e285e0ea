/**
 * The page as one HTML document: its style, Chart.js (from node_modules, inlined, never a CDN) and
 * the page's own scripts (lib/report/page/*.ts, compiled by the build) all inside it, so the served
 * page loads in one request and the report opens from file:// with no network at all. The report
 * carries its data as JSON in the page; its content security policy forbids every connection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { packageRoot } from '../base/paths.js';

// The page's compiled scripts, found from the package root so a bundled caller finds them too.
const pageBuildDir = path.join(packageRoot, 'dist', 'lib', 'report', 'page');
/** The page's scripts, in the order they must run (app last: it starts the page). */
const scripts = ['api', 'grid', 'table', 'recording', 'history', 'app'];

let assets: { css: string; chart: string; js: string } | undefined;

function loadAssets(): { css: string; chart: string; js: string } {
  if (assets) return assets;
  const require = createRequire(import.meta.url);
  const chartDir = path.dirname(require.resolve('chart.js'));
  const chart = fs.readFileSync(path.join(chartDir, 'chart.umd.min.js'), 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, '');
  const css = fs.readFileSync(path.join(packageRoot, 'lib', 'report', 'page', 'style.css'), 'utf8');
  const js = scripts.map((s) => fs.readFileSync(path.join(pageBuildDir, `${s}.js`), 'utf8').replace(/^"use strict";\n/, '')).join('\n');
  assets = { css, chart, js: `"use strict";\n${js}` };
  return assets;
}

/** Text that goes inside a <script> element must not close it. */
function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

export function pageHtml(opts: { title: string; data?: unknown }): string {
  const a = loadAssets();
  const report = opts.data !== undefined;
  const csp = report
    ? "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'none'"
    : "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'";
  const data = report ? `<script type="application/json" id="ephys-make-data">${JSON.stringify(opts.data).replace(/</g, '\\u003c')}</script>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${opts.title.replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : '&amp;'))}</title>
<style>${a.css}</style></head>
<body>
<header><h1>ephys-make</h1><span class="live" id="live" title="connecting"></span><span class="where" id="where"></span><span class="counts" id="counts"></span>
<nav><a href="#jobs" data-view="grid">Jobs</a><a href="#table" data-view="table">Recordings</a><a href="#history" data-view="history">Run history</a><a data-view="rec" id="nav-rec" style="display:none"></a></nav></header>
<main><section id="view-grid"></section><section id="view-table"></section><section id="view-history"></section><section id="view-rec"></section></main>
<aside id="drawer"></aside>
${data}
<script>${scriptSafe(a.chart)}</script>
<script>${scriptSafe(a.js)}</script>
</body></html>
`;
}
