"""Helpers for the msp-book: load answers, compute the paper's metrics, score new models.

Data flow: ``published`` (the authors' files) and ``scoring`` + ``cache`` (our own runs) produce one
tidy per-answer table (``table``); ``metrics`` and ``claims`` turn it into numbers; ``plots`` into
figures; the chapters in ``notebooks/`` only call these.
"""
