"""`cloudtally sample`: realistic FOCUS 1.2 exports for a made-up company (demo, tests, bench)."""

from cloudtally.sample.generator import (
    BENCHMARK_SCALE,
    PlantedAnomaly,
    SampleError,
    SampleFile,
    SampleSummary,
    generate_sample,
)
from cloudtally.sample.writers import FORMATS

__all__ = [
    "BENCHMARK_SCALE",
    "FORMATS",
    "PlantedAnomaly",
    "SampleError",
    "SampleFile",
    "SampleSummary",
    "generate_sample",
]
