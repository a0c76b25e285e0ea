"""Cross-check for the built-in kilosort_postprocessing: the double-counted spike removal of
reference section 1.5 written with numpy, on a Kilosort folder. Writes the arrays the module
writes into OUT_DIR (never into KS_DIR).
Usage: postprocessing.py KS_DIR OUT_DIR SAMPLE_RATE WITHIN_S BETWEEN_S CHANNEL_DISTANCE"""
import os
import sys

import numpy as np


def load(folder, name):
    return np.load(os.path.join(folder, name))


def main(ks_dir, out_dir, sample_rate, within_s, between_s, distance):
    times = np.squeeze(load(ks_dir, 'spike_times.npy'))
    clusters = np.squeeze(load(ks_dir, 'spike_clusters.npy'))
    templates_ids = np.squeeze(load(ks_dir, 'spike_templates.npy'))
    amplitudes = np.squeeze(load(ks_dir, 'amplitudes.npy'))
    templates = load(ks_dir, 'templates.npy')[:, 21:, :]
    winv = load(ks_dir, 'whitening_mat_inv.npy')
    channel_map = np.squeeze(load(ks_dir, 'channel_map.npy'))
    pcs = None
    if os.path.exists(os.path.join(ks_dir, 'pc_features.npy')) and os.path.exists(os.path.join(ks_dir, 'pc_feature_ind.npy')):
        pcs = load(ks_dir, 'pc_features.npy')

    unwhitened = np.zeros(templates.shape)
    for t in range(templates.shape[0]):
        unwhitened[t] = np.dot(np.ascontiguousarray(templates[t]), np.ascontiguousarray(winv))

    peak = channel_map[np.argmax(unwhitened.max(1) - unwhitened.min(1), 1)]
    order = np.argsort(peak)
    units = np.arange(np.max(clusters) + 1)[order]
    n_units = peak.size
    overlap = np.zeros((n_units, n_units))
    w_within = int(within_s * sample_rate)
    w_between = int(between_s * sample_rate)

    def drop(idx, arrays):
        return [None if a is None else np.delete(a, idx, 0) for a in arrays]

    removed = np.zeros((0,), dtype='i8')
    for k, u in enumerate(units):
        mine = np.where(clusters == u)[0]
        close = np.where(np.diff(times[mine]) < w_within)[0]
        overlap[k, k] = len(close)
        removed = np.concatenate((removed, mine[close]))
    times, clusters, templates_ids, amplitudes, pcs = drop(removed, [times, clusters, templates_ids, amplitudes, pcs])

    removed = np.zeros((0,), dtype='i8')
    for k1, u1 in enumerate(units):
        mine1 = np.where(clusters == u1)[0]
        for k2, u2 in enumerate(units):
            if k2 > k1 and np.abs(peak[u1] - peak[u2]) < distance:
                mine2 = np.where(clusters == u2)[0]
                merged = np.concatenate((times[mine1], times[mine2]))
                index = np.concatenate((np.arange(len(mine1)), np.arange(len(mine2))))
                which = np.concatenate((np.zeros(len(mine1)), np.ones(len(mine2))))
                o = np.argsort(merged)
                close = np.diff(merged[o]) < w_between
                later_index = index[o][1:]
                later_which = which[o][1:]
                r1 = later_index[close * (later_which == 0)]
                r2 = later_index[close * (later_which == 1)]
                overlap[k1, k2] = len(r1) + len(r2)
                removed = np.concatenate((removed, mine1[r1], mine2[r2]))
    times, clusters, templates_ids, amplitudes, pcs = drop(np.unique(removed), [times, clusters, templates_ids, amplitudes, pcs])

    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, 'spike_times.npy'), times)
    np.save(os.path.join(out_dir, 'amplitudes.npy'), amplitudes)
    np.save(os.path.join(out_dir, 'spike_clusters.npy'), clusters)
    np.save(os.path.join(out_dir, 'spike_templates.npy'), templates_ids)
    if pcs is not None:
        np.save(os.path.join(out_dir, 'pc_features.npy'), pcs)
    np.save(os.path.join(out_dir, 'overlap_matrix.npy'), overlap)


if __name__ == '__main__':
    a = sys.argv[1:]
    main(a[0], a[1], float(a[2]), float(a[3]), float(a[4]), int(a[5]))
