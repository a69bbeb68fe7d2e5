"""repro: a reproducibility and benchmark harness for LLM post-training.

The package is layered (see docs/architecture.md): each subpackage imports only from
the ones listed before it in that document. Rules of the Snakemake workflow call the
command line in ``repro.cli``; they never hold training or evaluation logic themselves.
"""

__version__ = "0.1.0"
