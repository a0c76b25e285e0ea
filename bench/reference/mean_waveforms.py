"""Cross-check for the built-in mean_waveforms: the module's algorithm (reference section 1.7)
written with numpy, scipy and pandas, run on the same input JSON. The module shuffles each unit's
spikes without a seed; here the same seeded draw as stages/mean_waveforms/select.ts is used, so
the two can be compared number for number.
Usage: mean_waveforms.py INPUT_JSON OUT_NPY OUT_CSV"""
import json
import os
import sys
import warnings

import numpy as np
import pandas as pd
from scipy.signal import resample
from scipy.stats import linregress

M32 = 0xFFFFFFFF


def imul(a, b):
    return (a * b) & M32


def mulberry32(seed):
    state = [seed & M32]

    def nxt():
        state[0] = (state[0] + 0x6D2B79F5) & M32
        t = state[0]
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296
    return nxt


def choose(spikes, unit, limit):
    if len(spikes) <= limit:
        return spikes
    pool = list(spikes)
    nxt = mulberry32(imul(0x5EED, 0x9E3779B1) ^ unit)
    for i in range(limit):
        j = i + int(nxt() * (len(pool) - i))
        pool[i], pool[j] = pool[j], pool[i]
    return np.array(pool[:limit])


def snr(W):
    W_bar = np.nanmean(W, axis=0)
    A = np.max(W_bar) - np.min(W_bar)
    e = W - np.tile(W_bar, (np.shape(W)[0], 1))
    return A / (2 * np.nanstd(e.flatten()))


def duration(w, ts):
    trough, peak = np.argmin(w), np.argmax(w)
    if w[peak] > np.abs(w[trough]):
        d = ts[peak:][np.where(w[peak:] == np.min(w[peak:]))[0][0]] - ts[peak]
    else:
        d = ts[trough:][np.where(w[trough:] == np.max(w[trough:]))[0][0]] - ts[trough]
    return d * 1e3


def halfwidth(w, ts):
    trough, peak = np.argmin(w), np.argmax(w)
    try:
        if w[peak] > np.abs(w[trough]):
            th = w[peak] * 0.5
            c1 = np.min(np.where(w[:peak] > th)[0])
            c2 = np.min(np.where(w[peak:] < th)[0]) + peak
        else:
            th = w[trough] * 0.5
            c1 = np.min(np.where(w[:trough] < th)[0])
            c2 = np.min(np.where(w[trough:] > th)[0]) + trough
        return (ts[c2] - ts[c1]) * 1e3
    except ValueError:
        return np.nan


def slopes(w, ts, window=20):
    mp = np.argmax(np.abs(w))
    v = -w * np.sign(w[mp])
    repol = linregress(ts[mp:mp + window], v[mp:mp + window])[0] * 1e-6
    p = np.argmax(v[mp:]) + mp
    recov = linregress(ts[p:p + window], v[p:p + window])[0] * 1e-6
    return repol, recov


def not_outlier(points, thresh=1.5):
    points = points[:, None]
    med = np.median(points, axis=0)
    diff = np.sqrt(np.sum((points - med) ** 2, axis=-1))
    mad = np.median(diff)
    return 0.6745 * diff / mad <= thresh


def features_2d(wave, ts, peak, thresh, site_range, spacing):
    sites = np.arange(-site_range, site_range + 1, 2) + peak
    sites = sites[(sites > 0) * (sites < wave.shape[0])]
    wv = wave[sites, :]
    trough_idx = np.argmin(wv, 1)
    overall = np.max(wv, 1) - np.min(wv, 1)
    amplitude = np.max(overall)
    max_chan = np.argmax(overall)
    points = np.where(overall > amplitude * thresh)[0]
    if len(points) > 1:
        points = points[not_outlier(points)]
    spread = len(points) * spacing * 1e6
    channels = (sites - peak)[points]
    times = (ts[trough_idx] - ts[trough_idx[max_chan]])[points]
    vel = []
    for sel in (channels >= 0, channels <= 0):
        vel.append(linregress(channels[sel], times[sel])[0] / spacing if np.sum(sel) > 1 else np.nan)
    return amplitude, spread, vel[0], vel[1]


def main(path, out_npy, out_csv):
    args = json.load(open(path))
    e, p = args['ephys_params'], args['mean_waveform_params']
    ks = args['directories']['kilosort_output_directory']
    n_ch = e['num_channels']
    raw = np.memmap(e['ap_band_file'], dtype='int16', mode='r')
    data = raw.reshape(int(raw.size / n_ch), n_ch)
    times = np.squeeze(np.load(os.path.join(ks, 'spike_times.npy')))
    clusters = np.squeeze(np.load(os.path.join(ks, 'spike_clusters.npy')))
    templates = np.load(os.path.join(ks, 'templates.npy'))[:, 21:, :]
    winv = np.load(os.path.join(ks, 'whitening_mat_inv.npy'))
    channel_map = np.squeeze(np.load(os.path.join(ks, 'channel_map.npy')))
    unwhitened = np.zeros(templates.shape)
    for t in range(templates.shape[0]):
        unwhitened[t] = np.dot(np.ascontiguousarray(templates[t]), np.ascontiguousarray(winv))
    peak_channels = np.squeeze(channel_map[np.argmax(np.max(unwhitened, 1) - np.min(unwhitened, 1), 1)])

    S, pre, limit, bv, fs = p['samples_per_spike'], p['pre_samples'], p['spikes_per_epoch'], e['bit_volts'], e['sample_rate']
    units = np.arange(np.max(clusters) + 1)
    means = np.zeros((len(units), n_ch, S))
    rows = []
    in_epoch = (times / fs > 0) * (times / fs < np.inf)
    index = np.arange(len(times))[in_epoch]
    for u in units:
        mine = index[clusters[in_epoch] == u]
        if len(mine) == 0:
            continue
        chosen = choose(mine, int(u), limit)
        W = np.full((len(chosen), n_ch, S), np.nan)
        for k, i in enumerate(chosen):
            start = int(times[i]) - pre
            if start >= 0 and start + S <= data.shape[0]:
                W[k] = data[start:start + S, :].T * bv
        pc = peak_channels[u]
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', category=RuntimeWarning)
            m = np.nanmean(W, 0)
            means[u] = m - m[:, :1]
            mean2d = np.squeeze(np.nanmean(W[:, channel_map, :], 0))
        local_peak = np.argmin(np.abs(channel_map - pc))
        n = int(S * p['upsampling_factor'])
        w1 = resample(mean2d[local_peak, :], n)
        ts = np.linspace(0, S / fs, n)
        repol, recov = slopes(w1, ts)
        amp, spread, va, vb = features_2d(mean2d, ts, local_peak, p['spread_threshold'], p['site_range'], e['vertical_site_spacing'])
        rows.append(pd.DataFrame([[u, 'complete_session', pc, snr(W[:, pc, :]), duration(w1, ts), halfwidth(w1, ts),
                                   np.abs(w1[np.argmax(w1)] / w1[np.argmin(w1)]), repol, recov, amp, spread, va, vb]],
                                 columns=['cluster_id', 'epoch_name', 'peak_channel', 'snr', 'duration', 'halfwidth',
                                          'PT_ratio', 'repolarization_slope', 'recovery_slope', 'amplitude', 'spread',
                                          'velocity_above', 'velocity_below']))
    np.save(out_npy, means)
    pd.concat(rows).to_csv(out_csv)


if __name__ == '__main__':
    main(*sys.argv[1:4])
