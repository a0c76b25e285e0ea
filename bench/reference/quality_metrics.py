#!/usr/bin/python3
"""Reference implementation of the quality_metrics module's formulas with numpy, scipy,
scikit-learn and pandas, structured like the Allen module (per-unit boolean masks, joblib over
units for the PC metrics, scikit-learn's LDA, ball-tree neighbours and silhouette_score per pair),
so that it costs what the module costs and agrees with it value for value.

    quality_metrics.py INPUT_JSON [--subsamples DIR]

Reads the input JSON the built-in reads and writes its quality_metrics_output_file. With
--subsamples, the PC-metric and silhouette subsamples are read from the .npy files the built-in
dumps under EPHYS_MAKE_QM_DUMP_DIR (see stages/quality_metrics/subsampleDump.ts) instead of being
drawn with numpy's generator, so both compute on the same spikes.
"""
import json
import os
import sys
import time
import warnings
from collections import OrderedDict

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.distance import cdist
from scipy.stats import chi2
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors


def load_folder(folder, sample_rate, include_pcs):
    def load(name):
        return np.load(os.path.join(folder, name))
    spike_times = np.squeeze(load('spike_times.npy')) / sample_rate
    spike_clusters = np.squeeze(load('spike_clusters.npy'))
    spike_templates = np.squeeze(load('spike_templates.npy'))
    amplitudes = np.squeeze(load('amplitudes.npy')).astype(np.float64)
    pcs = (load('pc_features.npy'), load('pc_feature_ind.npy')) if include_pcs else (None, None)
    return spike_times, spike_clusters, spike_templates, amplitudes, pcs[0], pcs[1]


# --- spike-train metrics ---------------------------------------------------------------------

def presence_ratio(train, t0, t1):
    counts, _ = np.histogram(train, np.linspace(t0, t1, 100))
    return np.sum(counts > 0) / 100


def isi_violations(train, t0, t1, threshold, min_isi):
    dup = np.where(np.diff(train) <= min_isi)[0]
    train = np.delete(train, dup + 1)
    isis = np.diff(train)
    n = len(train)
    v = sum(isis < threshold)
    duration = t1 - t0
    violation_rate = v / (2 * n * (threshold - min_isi))
    fp = violation_rate / (n / duration)
    with np.errstate(invalid='ignore'):
        corrected = 1 - np.sqrt(1 - v * duration / (n * n * (threshold - min_isi)))
    return fp, corrected


def amplitude_cutoff(amps, bins=500, smoothing=3):
    h, b = np.histogram(amps, bins, density=True)
    pdf = gaussian_filter1d(h, smoothing)
    support = b[:-1]
    peak = np.argmax(pdf)
    g = np.argmin(np.abs(pdf[peak:] - pdf[0])) + peak
    bin_size = np.mean(np.diff(support))
    return min(np.sum(pdf[g:]) * bin_size, 0.5)


# --- PC metrics ------------------------------------------------------------------------------

def unit_rows(u, v_list, counts, sub, clusters, templates, pc_features, pc_feature_ind, channels, draws):
    """The feature rows of unit u: each unit in range contributes its subsample, grouped by template."""
    rows, labels = [], []
    for v in v_list:
        key = (u, v)
        if draws is not None:
            chosen = draws[key]
        else:
            chosen = np.random.permutation(np.where(clusters == v)[0])[:int(sub[v])]
        tids = np.unique(templates[chosen])
        parts = []
        ok = True
        for t in tids:
            mask = chosen[templates[chosen] == t]
            ind = pc_feature_ind[t, :]
            cols = []
            for ch in channels:
                where = np.argwhere(ind == ch)
                if where.size == 0:
                    ok = False
                    break
                cols.append(pc_features[mask, :, where[0][0]])
            if not ok:
                break
            parts.append(np.stack(cols, axis=-1))
        if ok and parts:
            block = np.concatenate(parts)
            rows.append(block.reshape(block.shape[0], -1).astype(np.float64))
            labels.append(np.full(block.shape[0], v))
    if not rows:
        return np.zeros((0, 0)), np.zeros(0)
    return np.concatenate(rows), np.concatenate(labels)


def mahalanobis_metrics(x, labels, u):
    own = x[labels == u]
    other = x[labels != u]
    mean = np.expand_dims(np.mean(own, 0), 0)
    try:
        vi = np.linalg.inv(np.cov(own.T))
    except np.linalg.LinAlgError:
        return np.nan, np.nan
    d_other = np.sort(cdist(mean, other, 'mahalanobis', VI=vi)[0])
    n = min(own.shape[0], other.shape[0])
    if n < 2:
        return np.nan, np.nan
    l_ratio = np.sum(1 - chi2.cdf(d_other ** 2, own.shape[1])) / own.shape[0]
    return d_other[n - 1] ** 2, l_ratio


def d_prime(x, labels, u):
    y = labels == u
    proj = LinearDiscriminantAnalysis(n_components=1).fit_transform(x, y)
    a, b = proj[y], proj[~y]
    return (np.mean(a) - np.mean(b)) / np.sqrt(0.5 * (np.std(a) ** 2 + np.std(b) ** 2))


def nn_metrics(x, labels, u, max_nn, k):
    total = x.shape[0]
    ratio = max_nn / total
    this = labels == u
    pts = np.concatenate((x[this], x[~this]), 0)
    n = np.sum(this)
    if ratio < 1:
        pts = pts[np.arange(0, total - 1, 1 / ratio).astype('int')]
        n = int(n * ratio)
    _, idx = NearestNeighbors(n_neighbors=k, algorithm='ball_tree').fit(pts).kneighbors(pts)
    with np.errstate(invalid='ignore'), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return np.mean(idx[:n, 1:].flatten() < n), np.mean(idx[n:, 1:].flatten() < n)


def one_unit_pc_metrics(ui, unit_ids, peaks, max_ch, half, counts, p, clusters, templates, pc_features, pc_feature_ind, draws):
    u = unit_ids[ui]
    peak = int(peaks[ui])
    down = peak if peak < half else half
    up = max_ch - peak if peak + half > max_ch else half
    channels = np.arange(peak - down, peak + up + 1)
    in_range = unit_ids[np.isin(peaks, channels)]
    n_this = counts[u]
    sub = {v: (counts[v] / n_this * p['max_spikes_for_unit'] if n_this > p['max_spikes_for_unit'] else counts[v]) for v in in_range}
    x, labels = unit_rows(u, in_range, counts, sub, clusters, templates, pc_features, pc_feature_ind, channels, draws)
    if x.shape[0] > 10 and not (labels == u).all() and np.sum(labels == u) > 20 and len(channels) > 0:
        iso, lr = mahalanobis_metrics(x, labels, u)
        dp = d_prime(x, labels, u)
        hit, miss = nn_metrics(x, labels, u, p['max_spikes_for_nn'], p['n_neighbors'])
        return iso, lr, dp, hit, miss
    return (np.nan,) * 5


def pc_metrics(clusters, templates, pc_features, pc_feature_ind, p, draws):
    unit_ids = np.unique(clusters)
    template_ids = np.unique(templates)
    template_peaks = np.zeros(len(template_ids), dtype='uint16')
    for i, t in enumerate(template_ids):
        template_peaks[i] = pc_feature_ind[t, np.argmax(np.mean(pc_features[templates == t, 0, :], 0))]
    peaks = np.zeros(len(unit_ids), dtype='uint16')
    for i, u in enumerate(unit_ids):
        tids = np.unique(templates[clusters == u])
        peaks[i] = np.median(template_peaks[np.where(np.isin(template_ids, tids))[0]])
    counts = {u: np.sum(clusters == u) for u in unit_ids}
    half = int((p['num_channels_to_compare'] - 1) / 2)
    max_ch = np.max(pc_feature_ind)
    res = Parallel(n_jobs=-1)(delayed(one_unit_pc_metrics)(
        ui, unit_ids, peaks, max_ch, half, counts, p, clusters, templates, pc_features, pc_feature_ind,
        None if draws is None else {k: v for k, v in draws.items() if k[0] == unit_ids[ui]})
        for ui in range(len(unit_ids)))
    return [np.array(c) for c in zip(*res)]


def silhouette(clusters, templates, pc_features, pc_feature_ind, n_sil, sample):
    unit_ids = np.unique(clusters)
    if sample is None:
        sample = np.random.permutation(clusters.size)[:min(n_sil, clusters.size)]
    n_pcs = pc_features.shape[1]
    n_ch = np.max(pc_feature_ind) + 1
    x = np.zeros((len(sample), n_ch * n_pcs))
    for row, i in enumerate(sample):
        chans = pc_feature_ind[templates[i], :]
        for j in range(n_pcs):
            x[row, chans + n_ch * j] = pc_features[i, j, :]
    labels = clusters[sample]
    ss = np.full((len(unit_ids), len(unit_ids)), np.nan)
    for a, i in enumerate(unit_ids):
        for b, j in enumerate(unit_ids):
            if j > i:
                inds = np.in1d(labels, np.array([i, j]))
                if np.sum(inds) > 2 and len(np.unique(labels[inds])) > 1:
                    ss[a, b] = silhouette_score(x[inds], labels[inds])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return np.array([np.nanmin([c, r]) for c, r in zip(np.nanmin(ss, 0), np.nanmin(ss, 1))])


def spike_depths(templates, pc_features, pc_feature_ind):
    pc = np.copy(np.squeeze(pc_features[:, 0, :]))
    pc[pc < 0] = 0
    power = pow(pc, 2)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.sum(pc_feature_ind[templates, :] * power, 1) / np.sum(power, 1) * 10


def drift(times, clusters, templates, pc_features, pc_feature_ind, interval, min_spikes):
    depths = spike_depths(templates, pc_features, pc_feature_ind)
    starts = np.arange(np.min(times), np.max(times), interval)
    ends = starts + interval
    out_max, out_cum = [], []
    for u in np.unique(clusters):
        mask = clusters == u
        t, d = times[mask], depths[mask]
        medians = []
        for t0, t1 in zip(starts, ends):
            sel = (t > t0) * (t < t1)
            medians.append(np.median(d[sel]) if np.sum(sel) >= min_spikes else np.nan)
        medians = np.array(medians)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            out_max.append(np.around(np.nanmax(medians) - np.nanmin(medians), 2))
        out_cum.append(np.around(np.nansum(np.abs(np.diff(medians))), 2))
    return np.array(out_max), np.array(out_cum)


def read_draws(folder):
    pairs = np.load(os.path.join(folder, 'pc_subsample_pairs.npy'))
    spikes = np.load(os.path.join(folder, 'pc_subsample_spikes.npy')).astype(np.int64)
    return pairs, spikes, np.load(os.path.join(folder, 'silhouette_spikes.npy')).astype(np.int64)


def main(argv):
    args = json.load(open(argv[1]))
    subsamples = argv[argv.index('--subsamples') + 1] if '--subsamples' in argv else None
    q = dict(isi_threshold=0.0015, min_isi=0.0, num_channels_to_compare=13, max_spikes_for_unit=500,
             max_spikes_for_nn=10000, n_neighbors=4, n_silhouette=10000,
             drift_metrics_min_spikes_per_interval=10, drift_metrics_interval_s=100, include_pc_metrics=True)
    q.update(args.get('quality_metrics_params', {}))
    np.random.seed(9999)
    start = time.time()
    times, clusters, templates, amps, pc_features, pc_feature_ind = load_folder(
        args['directories']['kilosort_output_directory'], args.get('ephys_params', {}).get('sample_rate', 30000.0),
        q['include_pc_metrics'])
    keep = (times > 0) * (times < np.inf)
    times, clusters, templates, amps = times[keep], clusters[keep], templates[keep], amps[keep]
    unit_ids = np.unique(clusters)
    t0, t1 = np.min(times), np.max(times)
    cols = OrderedDict(cluster_id=unit_ids)
    fr, pr, iv, ivc, ac = [], [], [], [], []
    for u in unit_ids:
        mask = clusters == u
        train = times[mask]
        fr.append(train.size / (t1 - t0))
        pr.append(presence_ratio(train, t0, t1))
        a, b = isi_violations(train, t0, t1, q['isi_threshold'], q['min_isi'])
        iv.append(a)
        ivc.append(b)
        ac.append(amplitude_cutoff(amps[mask]))
    cols.update(firing_rate=fr, presence_ratio=pr, isi_viol=iv, isi_viol_corrected=ivc, amplitude_cutoff=ac)
    if q['include_pc_metrics']:
        pcs = pc_features[keep]
        draws = sil_sample = None
        if subsamples:
            pairs, spikes, sil_sample = read_draws(subsamples)
            draws, at = {}, 0
            for ui, vi, n in pairs:
                draws[(unit_ids[ui], unit_ids[vi])] = spikes[at:at + n]
                at += n
        iso, lr, dp, hit, miss = pc_metrics(clusters, templates, pcs, pc_feature_ind, q, draws)
        sil = silhouette(clusters, templates, pcs, pc_feature_ind, q['n_silhouette'], sil_sample)
        mx, cum = drift(times, clusters, templates, pcs, pc_feature_ind, q['drift_metrics_interval_s'],
                        q['drift_metrics_min_spikes_per_interval'])
        cols.update(isolation_distance=iso, l_ratio=lr, d_prime=dp, nn_hit_rate=hit, nn_miss_rate=miss,
                    silhouette_score=sil, max_drift=mx, cumulative_drift=cum)
    cols['epoch_name'] = ['complete_session'] * len(unit_ids)
    metrics = pd.DataFrame(data=cols)
    wf = args.get('waveform_metrics', {}).get('waveform_metrics_file')
    if wf and os.path.exists(wf):
        metrics = metrics.merge(pd.read_csv(wf, index_col=0), on='cluster_id',
                                suffixes=('_quality_metrics', '_waveform_metrics'))
    metrics.to_csv(q['quality_metrics_output_file'])
    print(json.dumps({'execution_time': time.time() - start,
                      'quality_metrics_output_file': q['quality_metrics_output_file']}))


if __name__ == '__main__':
    main(sys.argv)
