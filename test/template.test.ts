import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { splitWords, fillPlaceholders, PlaceholderError } from '../lib/engine/template.js';

test('words split like a shell splits them, with nothing expanded', () => {
  const r = splitWords(`python -m mod --input_json {input_json} --name "a b" 'c $HOME' d\\ e "q\\"x" $(rm -rf) ;`);
  assert.equal(r, { ok: true, value: ['python', '-m', 'mod', '--input_json', '{input_json}', '--name', 'a b', 'c $HOME', 'd e', 'q"x', '$(rm', '-rf)', ';'] });
  assert.equal(splitWords(`x 'open`), { ok: false, error: 'unterminated single quote at character 3' });
  assert.equal(splitWords(`''`), { ok: true, value: [''] });
});

test('placeholders fill inside an argument; braces escape; unknown ones throw with the name', () => {
  const look = (n: string) => ({ output: '/o d', stage: 'ks' } as Record<string, string>)[n];
  assert.is(fillPlaceholders('{output}/{stage}.json', look), '/o d/ks.json');
  assert.is(fillPlaceholders('{{literal}}', look), '{literal}');
  try { fillPlaceholders('{nope}', look); assert.unreachable(); } catch (e) { assert.instance(e, PlaceholderError); assert.is((e as PlaceholderError).placeholder, 'nope'); }
});

test.run();
