import { test } from 'uvu';
import * as assert from 'uvu/assert';
import zlib from 'node:zlib';
import { crc32, encodePng, pngSignature } from '../lib/formats/png.js';
import { Axes, Raster, colors, niceTicks, viridis } from '../lib/formats/plot.js';

interface Chunk { type: string; data: Buffer; crc: number; crcOk: boolean }

function chunks(png: Buffer): Chunk[] {
  const out: Chunk[] = [];
  for (let off = 8; off < png.length;) {
    const len = png.readUInt32BE(off);
    const crc = png.readUInt32BE(off + 8 + len);
    out.push({ type: png.toString('latin1', off + 4, off + 8), data: png.subarray(off + 8, off + 8 + len), crc, crcOk: crc === crc32(png, off + 4, off + 8 + len) });
    off += 12 + len;
  }
  return out;
}

/** Decode what encodePng writes (8-bit RGB, filters 0 and 2). */
function decode(png: Buffer): { width: number; height: number; rgb: Buffer } {
  const c = chunks(png);
  const width = c[0].data.readUInt32BE(0), height = c[0].data.readUInt32BE(4);
  const raw = zlib.inflateSync(Buffer.concat(c.filter((x) => x.type === 'IDAT').map((x) => x.data)));
  const stride = width * 3;
  const rgb = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i];
      rgb[y * stride + i] = f === 2 && y > 0 ? (v + rgb[(y - 1) * stride + i]) & 0xff : v;
    }
  }
  return { width, height, rgb };
}

test('crc32 is the standard CRC-32', () => {
  assert.is(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.is(crc32(Buffer.from('IEND')), 0xae426082);
  const zcrc = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;
  if (zcrc) {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff));
    assert.is(crc32(data), zcrc(data));
  }
});

test('a PNG has the signature, IHDR, IDAT, IEND with valid CRCs, and decodes to its pixels', () => {
  const w = 7, h = 5;
  const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 29) & 0xff);
  const png = encodePng(w, h, rgb);
  assert.ok(png.subarray(0, 8).equals(pngSignature));
  assert.equal([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const c = chunks(png);
  assert.equal(c.map((x) => x.type), ['IHDR', 'IDAT', 'IEND']);
  assert.ok(c.every((x) => x.crcOk));
  assert.is(c[0].data.length, 13);
  assert.equal([...c[0].data.subarray(8)], [8, 2, 0, 0, 0], 'depth 8, truecolour, deflate, adaptive filters, no interlace');
  assert.is(c[2].data.length, 0);
  const d = decode(png);
  assert.is(d.width, w);
  assert.is(d.height, h);
  assert.ok(d.rgb.equals(Buffer.from(rgb)));
});

test('bad sizes are rejected', () => {
  assert.throws(() => encodePng(0, 1, new Uint8Array(0)), /bad size/);
  assert.throws(() => encodePng(2, 2, new Uint8Array(11)), /expected 12 bytes/);
});

test('raster drawing: lines, rectangles, text and images land where asked', () => {
  const r = new Raster(40, 30);
  const px = (x: number, y: number) => [...r.pixels.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
  r.line(0, 0, 39, 0, colors.red);
  assert.equal(px(20, 0), [...colors.red]);
  r.fillRect(5, 5, 3, 3, colors.blue);
  assert.equal(px(6, 6), [...colors.blue]);
  assert.equal(px(8, 8), [255, 255, 255]);
  const width = r.text(10, 10, '12', colors.black, 1);
  assert.is(width, 7);
  // The 3x5 "1" starts with its middle column only.
  assert.equal(px(10, 10), [255, 255, 255]);
  assert.equal(px(11, 10), [0, 0, 0]);
  assert.equal(px(10, 14), [0, 0, 0], 'its foot spans all three columns');
  const a = new Axes(r, 20, 15, 10, 10, 0, 1, 0, 1);
  a.image([0, 1, 1, 0], 2, 2, 0, 1);
  assert.equal(px(20, 15), [...viridis(0)]);
  assert.equal(px(29, 15), [...viridis(1)]);
  const d = decode(r.toPng());
  assert.ok(d.rgb.equals(Buffer.from(r.pixels)));
});

test('viridis ends and nice ticks', () => {
  assert.equal([...viridis(0)], [68, 1, 84]);
  assert.equal([...viridis(1)], [253, 231, 37]);
  assert.equal([...viridis(NaN)], [255, 255, 255]);
  assert.equal(niceTicks(0, 384), [0, 100, 200, 300]);
  assert.equal(niceTicks(-0.2, 0.05), [-0.2, -0.15, -0.1, -0.05, 0, 0.05]);
});

test.run();
