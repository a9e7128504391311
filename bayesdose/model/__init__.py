"""The models users build and fit: :class:`DoseResponseModel` (and :func:`load_fit`), the
safety model, model files (:class:`ModelSpec`, :func:`bayesdose.fit`) and model comparison.
"""
