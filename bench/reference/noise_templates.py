"""Cross-check for the built-in noise_templates: the rule-based classifier of reference section 1.6
written with numpy and scipy (gaussian_filter1d, cwt/ricker, griddata 'cubic', find_peaks).

Usage:
  noise_templates.py primitives < CASES_JSON   scipy's primitives on given arrays, as JSON
  noise_templates.py folder KS_DIR PARAMS_JSON  every template's intermediate results, as JSON
"""
import json
import os
import sys

import numpy as np
from scipy.interpolate import griddata
from scipy.ndimage import gaussian_filter1d
from scipy.signal import cwt, find_peaks, ricker


def site_positions(channel_map):
    x = np.array([16, 48, 0, 32])[channel_map % 4].astype(float)
    y = np.floor(channel_map / 2) * 20
    return np.stack([x, y], 1)


def grid_positions(channel_map):
    rows = np.max(channel_map) + 1
    i = np.arange(rows * 7)
    return np.stack([np.array([0, 8, 16, 24, 32, 40, 48])[i % 7], np.floor(i / 7) * 10], 1).astype(float), rows


def interpolate(channel_map, frame):
    grid, rows = grid_positions(channel_map)
    v = griddata(site_positions(channel_map), frame, grid, method='cubic', fill_value=0, rescale=False)
    return v.reshape(rows, 7)


def shape_test(t, p):
    offsets = np.arange(-p['template_shape_channel_range'], p['template_shape_channel_range'] + 1, 4)
    cols = np.full((t.shape[0], offsets.size), np.nan)
    peak = np.argmax(t.max(0) - t.min(0))
    for k, o in enumerate(offsets):
        try:
            c = t[:, peak + o]
        except IndexError:
            continue
        cols[:, k] = c / np.max(np.abs(c))
    centred = cols - np.tile(cols[:, offsets.size // 2], (offsets.size, 1)).T
    mean = np.nanmean(centred, 1)
    row = cwt(mean, ricker, np.arange(1, t.shape[0], 2))[p['wavelet_index'], :]
    return int(np.argmax(row)), float(np.max(row))


def classify(t, channel_map, p):
    out = {}
    mm = np.max(np.abs(t), 0)
    mm = mm / np.max(mm)
    smoothed = gaussian_filter1d(mm, p['smoothed_template_filter_width'])
    s1 = int(np.sum(smoothed > p['smoothed_template_amplitude_threshold']))
    s2 = int(np.sum(mm > p['template_amplitude_threshold']))
    out['spread_smoothed'], out['spread_raw'] = s1, s2
    if s1 <= p['mid_spread_threshold']:
        spread_noise = s2 < p['min_spread_threshold']
    elif s1 <= p['max_spread_threshold']:
        loc, height = shape_test(t, p)
        out['wavelet_loc'], out['wavelet_height'] = loc, height
        spread_noise = not (height > p['min_wavelet_peak_height'] and p['min_wavelet_peak_loc'] < loc < p['max_wavelet_peak_loc'])
    else:
        spread_noise = True
    peak_index = int(np.argmax(t.max(1) - t.min(1)))
    temporal_noise = peak_index < p['min_temporal_peak_location'] or peak_index > p['max_temporal_peak_location']

    peak_channel = np.argmax(t.max(0) - t.min(0))
    w = interpolate(channel_map, t[peak_index, :])[:, 1:6]
    flat = w.flatten()
    sign = np.sign(flat[np.argmax(np.abs(flat))])
    locs = []
    for c in range(w.shape[1]):
        d = w[:, c]
        if np.max(np.abs(d)) >= np.max(np.abs(w)) * p['channel_amplitude_thresh']:
            d = d * sign
            d = d / np.max(np.abs(d))
            peaks, _ = find_peaks(d, height=p['peak_height_thresh'], prominence=p['peak_prominence_thresh'])
            ch = channel_map[peak_channel]
            locs.extend(int(v) for v in peaks[(peaks > ch - p['peak_channel_range']) * (peaks < ch + p['peak_channel_range'])])
    std = float(np.std(locs)) if locs else None
    spatial_noise = bool(std is not None and std > p['peak_locs_std_thresh'])
    out.update(peak_index=peak_index, peak_locations=locs, std=std,
               spread_noise=bool(spread_noise), temporal_noise=bool(temporal_noise), spatial_noise=spatial_noise)
    out['is_noise'] = bool(spread_noise or temporal_noise or spatial_noise)
    return out


def folder(ks_dir, params_path):
    p = json.load(open(params_path))
    templates = np.load(os.path.join(ks_dir, 'templates.npy'))[:, 21:, :]
    winv = np.load(os.path.join(ks_dir, 'whitening_mat_inv.npy'))
    channel_map = np.squeeze(np.load(os.path.join(ks_dir, 'channel_map.npy')))
    unwhitened = np.zeros(templates.shape)
    for k in range(templates.shape[0]):
        unwhitened[k] = np.dot(np.ascontiguousarray(templates[k]), np.ascontiguousarray(winv))
    print(json.dumps([classify(unwhitened[k], channel_map, p) for k in range(unwhitened.shape[0])]))


def primitives():
    cases = json.load(sys.stdin)
    out = {
        'gauss': [gaussian_filter1d(np.array(c['x'], float), c['sigma']).tolist() for c in cases.get('gauss', [])],
        'peaks': [find_peaks(np.array(c['x'], float), height=c['height'], prominence=c['prominence'])[0].tolist() for c in cases.get('peaks', [])],
        'cwt': [cwt(np.array(c['x'], float), ricker, np.arange(1, len(c['x']), 2))[c['row'], :].tolist() for c in cases.get('cwt', [])],
        'griddata': [interpolate(np.array(c['channel_map']), np.array(c['frame'], float))[:, 1:6].flatten().tolist() for c in cases.get('griddata', [])],
    }
    print(json.dumps(out))


if __name__ == '__main__':
    if sys.argv[1] == 'primitives':
        primitives()
    else:
        folder(sys.argv[2], sys.argv[3])
