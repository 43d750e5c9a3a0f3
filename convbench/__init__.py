"""convbench: verified, well-timed benchmarks of convolution layers.

The package is layered (see DESIGN.md): ``workloads`` (shapes and formulas) know nothing of
backends; ``backends`` know nothing of the plan or the disk; ``harness`` runs cases through
backends; ``results`` stores rows; ``reports`` read only results.
"""

__version__ = "0.1.0"
