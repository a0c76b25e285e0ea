"""Cross-check for the built-in depth_estimation: the module's algorithm (reference section 1.2)
written with numpy and scipy, run on the same input JSON. Prints the intermediate results as JSON
for test/depth_estimation.test.ts to compare. Usage: depth_estimation.py INPUT_JSON"""
import json
import sys

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import welch


def lfp_order():
    pattern = []
    for block in range(2):
        for i in range(12):
            pattern += [block * 24 + i, block * 24 + 12 + i]
    return np.concatenate([np.array(pattern) + 48 * k for k in range(8)])


def main(path):
    args = json.load(open(path))
    e = args['ephys_params']
    p = args['depth_estimation_params']
    n = e['num_channels']
    refs = np.array(e.get('reference_channels', [36, 75, 112, 151, 188, 227, 264, 303, 340, 379]))
    ap = np.memmap(e['ap_band_file'], dtype='int16', mode='r').reshape(-1, n)
    passes = p['n_passes']
    offsets = np.zeros((n, passes), dtype='int16')
    noise = np.zeros((n, passes))
    for i in range(passes):
        a = int((p['start_time'] + p['skip_s_per_pass'] * i) * e['sample_rate'])
        b = a + int(p['time_interval'] * e['sample_rate'])
        for ch in range(n):
            d = ap[a:b, ch]
            offsets[ch, i] = np.median(d)
            centred = d - offsets[ch, i]
            noise[ch, i] = np.power(np.mean(np.power(centred.astype('float32'), 2)), 0.5) * e['bit_volts']
    mask = np.ones(n, dtype=bool)
    mask[refs] = False
    mask[np.median(noise, 1) > p['hi_noise_thresh']] = False
    mask[np.median(noise, 1) < p['lo_noise_thresh']] = False

    lfp = np.memmap(e['lfp_band_file'], dtype='int16', mode='r').reshape(-1, n)
    rate = e['lfp_sample_rate']
    cr = p['channel_range']
    candidates = np.zeros(passes)
    for q in range(passes):
        a = int(rate * p['skip_s_per_pass'] * q)
        b = a + int(rate)
        cols = lfp_order() if e.get('reorder_lfp_channels', True) else np.arange(n)
        chunk = np.copy(lfp[a:b, cols])
        for ch in range(n):
            chunk[:, ch] = chunk[:, ch] - np.median(chunk[:, ch])
        for ch in range(n):
            chunk[:, ch] = chunk[:, ch] - np.median(chunk[:, cr[0]:cr[1]], 1)
        power = np.zeros((int(p['nfft'] / 2 + 1), n))
        for ch in range(n):
            freqs, pxx = welch(chunk[:, ch], fs=rate, nfft=p['nfft'])
            power[:, ch] = pxx
        band = np.where((freqs >= p['freq_range'][0]) & (freqs <= p['freq_range'][1]))[0]
        values = np.log10(np.mean(power[band, :], 0))
        values[refs] = values[refs - 1]
        values = gaussian_filter1d(values, p['smoothing_amount'])
        found = np.where((np.diff(values) < p['diff_thresh']) * (values[:-1] < p['power_thresh']))[0]
        candidates[q] = np.max(found) if len(found) else n
    surface = np.median(candidates)
    air = np.min([surface + p['air_gap'], n])
    json.dump({
        'offsets': np.median(offsets, 1).astype('int16').tolist(),
        'mask': mask.tolist(),
        'rms': np.median(noise, 1).tolist(),
        'candidates': candidates.tolist(),
        'surface_channel': float(surface),
        'air_channel': float(air),
        'values': values.astype(float).tolist(),
    }, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1])
