/** The stage graph: edges from outputs to inputs and `after:`, a stable order, targets and downstream. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseYamlText } from '../lib/engine/yamlSource.js';
import { parsePipeline } from '../lib/engine/config.js';
import { buildGraph, downstreamOf, stagesFor, type StageGraph } from '../lib/engine/graph.js';

function graphOf(stages: string): { g: StageGraph; pipeline: ReturnType<typeof load> } {
  const pipeline = load(stages);
  const g = buildGraph(pipeline);
  if (!g.ok) throw new Error(g.diagnostics.map((d) => d.message).join('\n'));
  return { g: g.value, pipeline };
}

function load(stages: string) {
  const { source, diagnostics } = parseYamlText('/lab/pipeline.yaml', `version: 1\nrecordings: { root: ./data, match: "**/*.ap.bin" }\nstages:\n${stages}`);
  if (!source) throw new Error(diagnostics.map((d) => d.message).join('\n'));
  const p = parsePipeline(source);
  if (!p.ok) throw new Error(p.diagnostics.map((d) => d.message).join('\n'));
  return p.value;
}

const stage = (name: string, ins: string[], outs: string[], extra = '') =>
  `  ${name}:\n    run: command\n    command: ["true"]\n    inputs: ${JSON.stringify(ins)}\n    outputs: ${JSON.stringify(outs)}\n${extra}`;

const chain = [
  stage('metrics', ['{output}/ks/spike_times.npy', '{output}/wf.csv'], ['{output}/metrics.csv']),
  stage('median', ['{marker}'], ['{output}/ms.dat']),
  stage('waveforms', ['{output}/ms.dat', '{output}/./ks/spike_times.npy'], ['{output}/wf.csv']),
  stage('sort', ['{output}/ms.dat'], ['{output}/ks/spike_times.npy']),
  stage('backup', [], ['{output}/backup.done'], '    after: [metrics]\n'),
].join('');

test('edges join an output to the inputs that name it (templates normalised); order is topological and stable', () => {
  const { g } = graphOf(chain);
  assert.equal(g.order.map((s) => s.name), ['median', 'sort', 'waveforms', 'metrics', 'backup']);
  assert.equal([...g.deps.get('waveforms')!].sort(), ['median', 'sort']);
  assert.equal([...g.deps.get('metrics')!].sort(), ['sort', 'waveforms']);
  assert.equal([...g.deps.get('backup')!], ['metrics'], 'after: makes an edge with no file between');
  assert.equal([...g.consumers.get('median')!].sort(), ['sort', 'waveforms']);
});

test('a target brings everything upstream of it, nothing downstream', () => {
  const { g, pipeline } = graphOf(chain);
  const s = stagesFor(g, ['waveforms'], pipeline);
  assert.ok(s.ok);
  if (s.ok) assert.equal([...s.value].sort(), ['median', 'sort', 'waveforms']);
  const all = stagesFor(g, ['all'], pipeline);
  assert.ok(all.ok && all.value.size === 5);
});

test('an unknown target is an error with a did-you-mean and the valid names', () => {
  const { g, pipeline } = graphOf(chain);
  const s = stagesFor(g, ['metric'], pipeline);
  assert.not.ok(s.ok);
  if (!s.ok) assert.is(s.diagnostics[0].message, "unknown target 'metric' (did you mean 'metrics'?); targets are 'all' or stage names: metrics, median, waveforms, sort, backup");
});

test('downstream of a stage: every stage that reads what it makes, transitively', () => {
  const { g } = graphOf(chain);
  assert.equal([...downstreamOf(g, 'sort')].sort(), ['backup', 'metrics', 'waveforms']);
  assert.equal([...downstreamOf(g, 'backup')], []);
});

test('a stage reading its own output is not a cycle; two stages reading each other are', () => {
  const self = graphOf(stage('a', ['{output}/a.out'], ['{output}/a.out']));
  assert.equal(self.g.order.map((s) => s.name), ['a']);
  const r = buildGraph(load(stage('a', ['{output}/b.out'], ['{output}/a.out']) + stage('b', ['{output}/a.out'], ['{output}/b.out'])));
  assert.not.ok(r.ok);
  if (!r.ok) {
    assert.is(r.diagnostics[0].message, 'the stages form a cycle: a -> b -> a');
    assert.equal(r.diagnostics[0].notes!.map((n) => n.message), ["'a' reads {output}/b.out, made by 'b'", "'b' reads {output}/a.out, made by 'a'"]);
  }
});

test.run();
