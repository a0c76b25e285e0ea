#!/bin/sh
# An ephys-make job on a SLURM node: run the argument vector sbatch was given, as it is.
exec "$@"
