"""Data in: trial data (one row per patient, time and outcome) and adverse events, checked.

Modules: :mod:`~bayesdose.data.trial` (:class:`TrialData`, :class:`OutcomeInfo`, CSV and
frame readers) and :mod:`~bayesdose.data.safety` (:class:`SafetyData`).
"""
