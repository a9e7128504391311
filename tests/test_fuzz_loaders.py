"""A short, bounded run of the loader fuzzer (benchmarks/fuzz_loaders.py): mutated and
random CSV and TOML bytes give a bayesdose error or valid data, nothing else."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_loaders",
                                                  ROOT / "benchmarks" / "fuzz_loaders.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_a_few_batches_of_fuzzing_find_no_unexpected_exception(tmp_path):
    fuzzer = load_fuzzer()
    # a fixed number of seeded batches (not a time budget): the same inputs on any machine
    report = fuzzer.fuzz(seconds=0, seed_value=2024, batch=25, crash_dir=tmp_path,
                         min_batches=6)
    assert report.failure is None, report.failure
    assert set(report.inputs) == set(fuzzer.TARGETS)
    assert report.total >= 30, report.line()
    assert "loaded" in report.outcomes  # some inputs are still valid after mutation
    assert not list(tmp_path.iterdir())
