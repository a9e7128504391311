"""Files: TOML model and design files read and checked, results written atomically.

Modules: :mod:`~bayesdose.files.toml` (reading TOML, path and key checks shared by model
and design files) and :mod:`~bayesdose.files.output` (atomic writes, staged and checked
output folders).
"""
