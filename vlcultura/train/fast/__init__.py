"""Building blocks of the fast KTO path (see docs/fast_path.md).

Stock TRL re-decodes, re-preprocesses and re-tokenizes every image batch in every epoch, and
runs the frozen vision tower four times per step (policy, policy KL, reference, reference KL).
These modules do that work once: `batches` collates each fixed sequential batch once and
precomputes the reference log-probabilities, `image_features` records the vision tower +
connector output once per batch and replays it to every later pass, and `blockers` says when
those shortcuts would change the function (then the stock trainer runs instead). For SmolVLM,
`static_step` writes the step in fixed shapes without host syncs and `cuda_graphs` captures it
once per shape, so each GPU step is one graph replay.
"""
