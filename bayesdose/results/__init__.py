"""Reading a posterior: estimands, dose estimands, diagnostics, PSIS-LOO, predictive checks,
the signal test, the storage format of a fit, the fit objects and cross-validation.
"""
