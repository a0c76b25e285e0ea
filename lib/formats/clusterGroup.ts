/** Phy's cluster table (`cluster_group.tsv`, `cluster_KSLabel.tsv`): read and written as ecephys_spike_sorting does. */
import fs from 'node:fs';
import { StageError } from '../base/stageError.js';
import { writeFileAtomic } from '../base/atomicFile.js';

/** Parse a Phy cluster table: tab-separated, header naming `cluster_id` and `group` (or `KSLabel`). */
export function readClusterGroupTsv(file: string): { clusterIds: number[]; labels: string[] } {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length === 0) throw new StageError(`${file}: empty; expected a header line 'cluster_id<TAB>group'`);
  const head = lines[0].split('\t').map((s) => s.trim());
  const idCol = head.indexOf('cluster_id');
  // Newer Kilosort copies cluster_KSLabel.tsv here, whose column is KSLabel.
  let labelCol = head.indexOf('group');
  if (labelCol < 0) labelCol = head.indexOf('KSLabel');
  if (idCol < 0 || labelCol < 0) {
    throw new StageError(`${file}: header '${lines[0]}'; expected columns 'cluster_id' and 'group' (or 'KSLabel')`);
  }
  const clusterIds: number[] = [];
  const labels: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split('\t');
    const idText = (cells[idCol] ?? '').trim();
    const id = Number(idText);
    if (idText === '' || !Number.isInteger(id)) {
      throw new StageError(`${file}:${i + 1}: cluster_id '${idText}'; expected an integer`);
    }
    clusterIds.push(id);
    labels.push((cells[labelCol] ?? '').trim());
  }
  return { clusterIds, labels };
}

/** Write a Phy cluster table as ecephys_spike_sorting does: header `cluster_id\tgroup`, no index. */
export function writeClusterGroupTsv(file: string, ids: ArrayLike<number>, labels: ArrayLike<string>): void {
  if (ids.length !== labels.length) {
    throw new Error(`internal error: ${ids.length} cluster ids but ${labels.length} labels for ${file}`);
  }
  let text = 'cluster_id\tgroup\n';
  for (let i = 0; i < ids.length; i++) text += `${ids[i]}\t${labels[i]}\n`;
  writeFileAtomic(file, text);
}
