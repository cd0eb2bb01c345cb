"""The pure core: rules over tensors and modules, with no files, no data sets and no front end.

Masks, granularities, importance criteria, layer discovery, incremental evaluation, metrics, the
history of tried configurations and background jobs. Everything above builds on these.
"""
