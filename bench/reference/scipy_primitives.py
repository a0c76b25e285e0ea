"""scipy's own primitives on arrays given as JSON on stdin, for the noise_templates tests:
gaussian_filter1d, find_peaks, the Ricker-wavelet cwt, and cubic griddata of a frame of the
probe's sites onto the module's 7-column virtual grid (inner 5 columns).
"""
import json
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


cases = json.load(sys.stdin)
print(json.dumps({
    'gauss': [gaussian_filter1d(np.array(c['x'], float), c['sigma']).tolist() for c in cases.get('gauss', [])],
    'peaks': [find_peaks(np.array(c['x'], float), height=c['height'], prominence=c['prominence'])[0].tolist() for c in cases.get('peaks', [])],
    'cwt': [cwt(np.array(c['x'], float), ricker, np.arange(1, len(c['x']), 2))[c['row'], :].tolist() for c in cases.get('cwt', [])],
    'griddata': [interpolate(np.array(c['channel_map']), np.array(c['frame'], float))[:, 1:6].flatten().tolist() for c in cases.get('griddata', [])],
}))
