"""Surrogate features and models (installed as ``actsearch.surrogates``)."""
