"""Post-training methods, one file each, registered by name.

A method decides which sequences go into an optimizer step and what each token's
loss is. The shared loop in repro.train owns the optimizer, accumulation and
aggregation. Add a method with one file here and one YAML in baselines/.
"""

from repro.methods.base import METHODS, Method, MethodContext, build_method

# Importing a method module registers it.
from repro.methods import grpo, sft  # noqa: F401  (registration side effect)

__all__ = ["METHODS", "Method", "MethodContext", "build_method"]
