"""ephys-make's driver for Kilosort 4: one job's input JSON in, a Kilosort/phy folder and an output JSON out.

    python driver.py --input_json IN --output_json OUT
    python driver.py --check [--device auto|cpu|cuda]      (ephys-make doctor)

Run by the lab's interpreter (pipeline.yaml `python:`, a venv or conda env with `kilosort` and `torch`).
Reads:
  ephys_params.ap_band_file, num_channels (every channel in the file, sync included), sample_rate;
  probe_geometry (the AP sites of the recording, read by ephys-make from the .meta / structure.oebin)
    or kilosort4_params.probe_file (a Kilosort probe file: .json, .prb or .mat);
  directories.kilosort_output_directory (the results folder);
  kilosort4_params.settings (Kilosort 4's settings) and its run options.
Device: `device: cpu` -> CPU; `cuda`, or `auto` in a job that holds a slot of the `gpu` pool (ephys-make
sets EPHYS_MAKE_GPU and CUDA_VISIBLE_DEVICES=<slot>) -> that GPU; `auto` without a slot -> CPU.
Kilosort writes into a fresh sibling folder; its files are moved into the results folder only when it
finished, so a crash never leaves a half-written sorting under the real name. Files in the results
folder that Kilosort does not write (a lab's own) are left alone.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

# Keys of kilosort4_params.settings whose JSON null means Kilosort's infinity rather than None.
INFINITE_WHEN_NULL = ('tmax', 'artifact_threshold')


class DriverError(Exception):
    pass


def fail(message):
    raise DriverError(message)


def read_input(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def write_json_atomic(path, value):
    tmp = f'{path}.{os.getpid()}.partial'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(value, f, indent=2)
        f.write('\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def choose_device(torch, requested):
    slot = os.environ.get('EPHYS_MAKE_GPU')
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    if requested == 'cpu' or (requested == 'auto' and slot is None):
        why = 'device: cpu' if requested == 'cpu' else 'no gpu pool slot held by this job'
        return torch.device('cpu'), f'cpu ({why})'
    if not torch.cuda.is_available():
        held = f'this job holds gpu slot {slot} (CUDA_VISIBLE_DEVICES={visible})' if slot is not None else 'device: cuda was asked for'
        fail(f'{held}, but torch {torch.__version__} sees no CUDA device (a CPU-only build, or no driver). '
             'Install a CUDA build of torch in this environment, or set kilosort4_params.device: cpu to sort on the CPU (slow)')
    return torch.device('cuda'), f'cuda (CUDA_VISIBLE_DEVICES={visible})' if visible is not None else 'cuda'


def probe_from_geometry(np, geometry, n_chan_bin):
    channels = geometry.get('channels')
    xs, ys = geometry.get('x_um'), geometry.get('y_um')
    shanks = geometry.get('shank') or [0] * len(channels or [])
    if not channels or len(xs or []) != len(channels) or len(ys or []) != len(channels) or len(shanks) != len(channels):
        fail('input JSON: probe_geometry needs lists channels, x_um, y_um (and shank) of one length')
    bad = [c for c in channels if not (0 <= c < n_chan_bin)]
    if bad:
        fail(f'input JSON: probe_geometry.channels has {bad[:5]} outside the {n_chan_bin} channels of the file (ephys_params.num_channels)')
    return {
        'chanMap': np.asarray(channels, dtype=np.int32),
        'xc': np.asarray(xs, dtype=np.float32),
        'yc': np.asarray(ys, dtype=np.float32),
        'kcoords': np.asarray(shanks, dtype=np.float32),
        'n_chan': len(channels),
    }


def kilosort_settings(given, n_chan_bin, sample_rate):
    settings = {}
    for key, value in given.items():
        if value is None:
            value = math.inf if key in INFINITE_WHEN_NULL else None
        settings[key] = value
    settings['n_chan_bin'] = given.get('n_chan_bin') or n_chan_bin
    settings['fs'] = given.get('fs') or sample_rate
    return settings


def publish(partial_dir, results_dir):
    """Move every file Kilosort wrote into the results folder, replacing only those names."""
    os.makedirs(results_dir, exist_ok=True)
    for root, dirs, files in os.walk(partial_dir):
        rel = os.path.relpath(root, partial_dir)
        target_dir = results_dir if rel == '.' else os.path.join(results_dir, rel)
        os.makedirs(target_dir, exist_ok=True)
        for name in files:
            os.replace(os.path.join(root, name), os.path.join(target_dir, name))
    shutil.rmtree(partial_dir, ignore_errors=True)


def run(input_path, output_path):
    started = time.time()
    job = read_input(input_path)
    ephys = job.get('ephys_params') or {}
    params = job.get('kilosort4_params') or {}
    results_dir = (job.get('directories') or {}).get('kilosort_output_directory')
    if not results_dir:
        fail('input JSON: directories.kilosort_output_directory is missing; it names the folder Kilosort writes')
    ap_file = ephys.get('ap_band_file')
    if not ap_file or not os.path.isfile(ap_file):
        fail(f'input JSON: ephys_params.ap_band_file {ap_file!r} is not a file')
    n_chan_bin = int(ephys.get('num_channels') or 0)
    sample_rate = float(ephys.get('sample_rate') or 0)
    if n_chan_bin < 1 or sample_rate <= 0:
        fail('input JSON: ephys_params.num_channels and sample_rate must be positive')
    size = os.path.getsize(ap_file)
    if size % (2 * n_chan_bin):
        fail(f'{ap_file}: {size} bytes is not a whole number of int16 samples of {n_chan_bin} channels '
             '(ephys_params.num_channels counts every channel in the file, the sync channel included)')

    try:
        import numpy as np
        import torch
        import kilosort
        from kilosort import run_kilosort
        from kilosort.io import load_probe
    except ImportError as e:
        fail(f'{sys.executable} cannot import {e.name}: install Kilosort 4 (pip install kilosort) and torch into the '
             'environment pipeline.yaml names in `python:`; `ephys-make doctor` checks it')

    device, device_text = choose_device(torch, params.get('device', 'auto'))
    probe_file = params.get('probe_file')
    if probe_file:
        if not os.path.isfile(probe_file):
            fail(f'input JSON: kilosort4_params.probe_file {probe_file!r} does not exist')
        probe = load_probe(probe_file)
        probe_text = probe_file
    elif job.get('probe_geometry'):
        probe = probe_from_geometry(np, job['probe_geometry'], n_chan_bin)
        probe_text = job['probe_geometry'].get('source', 'probe_geometry of the input JSON')
    else:
        fail('no probe geometry: the recording gives none (ephys-make reads it from a SpikeGLX .meta, or assumes the '
             'NP1.0 layout for 384-channel Open Ephys recordings); name a Kilosort probe file in kilosort4_params.probe_file')

    settings = kilosort_settings(params.get('settings') or {}, n_chan_bin, sample_rate)
    threads = params.get('torch_threads')
    results_dir = os.path.abspath(results_dir)
    partial_dir = results_dir.rstrip('/') + '.kilosort4-partial'
    shutil.rmtree(partial_dir, ignore_errors=True)  # left by a run that was stopped: ours
    os.makedirs(partial_dir)
    print(f'kilosort {getattr(kilosort, "__version__", "?")}, torch {torch.__version__}, device {device_text}', flush=True)
    print(f'{ap_file}: {n_chan_bin} channels in the file, {probe["n_chan"]} sorted ({probe_text})', flush=True)
    ops, st, clu, *_ = run_kilosort(
        settings=settings, probe=probe, filename=ap_file, results_dir=partial_dir, device=device,
        data_dtype=params.get('data_dtype', 'int16'), do_CAR=params.get('do_CAR', True),
        invert_sign=params.get('invert_sign', False), bad_channels=params.get('bad_channels') or None,
        save_preprocessed_copy=params.get('save_preprocessed_copy', False),
        torch_thread_lim=threads,
    )
    publish(partial_dir, results_dir)
    clusters = np.load(os.path.join(results_dir, 'spike_clusters.npy'))
    write_json_atomic(output_path, {
        'execution_time': time.time() - started,
        'kilosort_version': getattr(kilosort, '__version__', None),
        'torch_version': torch.__version__,
        'device': device_text,
        'probe': probe_text,
        'spikes': int(clusters.shape[0]),
        'clusters': int(len(np.unique(clusters))),
        'kilosort_output_directory': results_dir,
        'input_parameters': job,
    })


def check(requested):
    """For `ephys-make doctor`: do kilosort and torch import, and which device would a job use?"""
    try:
        import torch
        import kilosort
    except ImportError as e:
        print(f'{sys.executable} cannot import {e.name}')
        return 3
    versions = f'kilosort {getattr(kilosort, "__version__", "?")} and torch {torch.__version__} import'
    try:
        _, text = choose_device(torch, requested)
    except DriverError as e:
        print(f'{versions}, but {e}')
        return 4
    print(f'{versions}; jobs will run on {text}')
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description='Run Kilosort 4 on one ephys-make job.')
    parser.add_argument('--input_json')
    parser.add_argument('--output_json')
    parser.add_argument('--check', action='store_true', help='check the environment only')
    parser.add_argument('--device', default='auto')
    args = parser.parse_args(argv)
    if args.check:
        return check(args.device)
    if not args.input_json or not args.output_json:
        parser.error('--input_json and --output_json are required')
    try:
        run(args.input_json, args.output_json)
    except DriverError as e:
        print(f'error: {e}', file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
