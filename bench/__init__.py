"""The benchmark: the real service, two baselines and a load client over real sockets.

`python -m bench` (or `make bench`) runs every scenario and writes docs/performance.md.
"""
