"""What a dose-response model is made of: dose shapes, time courses, likelihoods, priors,
the data arranged for the model, and the PyMC graph pieces.

Modules: :mod:`~bayesdose.components.shapes`, :mod:`~bayesdose.components.timecourses`,
:mod:`~bayesdose.components.likelihoods`, :mod:`~bayesdose.components.priors`,
:mod:`~bayesdose.components.inputs` and :mod:`~bayesdose.components.graph`.
"""
