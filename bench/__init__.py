"""roost's benchmark harness: roost and its peers, side by side, on one machine, in one run.

Run it with ``python -m bench`` (see bench/README.md). Absolute figures drift on a shared
machine, so every table also gives each server's ratio to roost measured in the same run.
"""
