"""Data in: trial data (one row per patient, time and outcome), arm-level summaries and
adverse events, checked.

Modules: :mod:`~bayesdose.data.trial` (:class:`TrialData`, :class:`OutcomeInfo`, CSV and
frame readers), :mod:`~bayesdose.data.arms` (:class:`ArmData`, arm-level summaries) and
:mod:`~bayesdose.data.safety` (:class:`SafetyData`).
"""
