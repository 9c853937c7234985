"""RNG state that travels with checkpoints: :func:`seedlock.rng_state` and
:func:`seedlock.restore_rng_state` (``state``; ``checks`` checks a state from disk), the side files beside a checkpoint (``sidefile``),
and the seams that save and restore it through torch, Keras and Lightning checkpoints under
``seedlock run`` (``seams``, ``keras_seam``, ``lightning_seam``). See docs/resume.md.
"""
