"""The next trial: design files, trial simulation, operating characteristics and the
resumable, reproducible replicate runner.
"""
