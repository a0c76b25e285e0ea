/**
 * A real browser for the page's tests: Debian's chromium (`.ci/run` installs it), driven by
 * playwright-core; browsers cannot be downloaded here. Screenshots go to test-artifacts/screenshots/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, testUnless } from './rig.js';

export const chromiumPath = process.env.EPHYS_MAKE_CHROMIUM ?? '/usr/bin/chromium';
export const screenshotDir = path.join(repoRoot, 'test-artifacts', 'screenshots');

/** `test`, or a counted skip naming what is missing. */
export const browserTest = testUnless(fs.existsSync(chromiumPath) ? undefined : `${chromiumPath} not found (apt-get install chromium)`);

export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Save a screenshot as a test artefact; returns its path. */
export async function keepScreenshot(page: { screenshot(o: { path: string; fullPage?: boolean }): Promise<unknown> }, name: string, fullPage = false): Promise<string> {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  process.stdout.write(`screenshot: ${path.relative(repoRoot, file)}\n`);
  return file;
}

/** A screenshot that is not one flat colour: distinct colours among sampled pixels, decoded by the browser. */
export async function isNonBlank(page: { evaluate(expr: string): Promise<unknown> }, file: string): Promise<boolean> {
  const src = `data:image/png;base64,${fs.readFileSync(file).toString('base64')}`;
  const colours = await page.evaluate(`(async () => {
    const img = new Image(); img.src = ${JSON.stringify(src)}; await img.decode();
    const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  })()`);
  return Number(colours) > 8;
}

/** The address a `serve` printed. */
export function servedUrl(output: string): string {
  const m = /open (http:\/\/\S+)/.exec(output);
  if (!m) throw new Error(`no address in:\n${output}`);
  return m[1];
}
