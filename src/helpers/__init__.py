"""Helpers for the msp-book, in four floors; imports point one way (tests/test_layers.py checks it).

- ``helpers.data``: the tidy per-answer table (``schema``), the vocabulary of datasets, signals,
  penalties and models (``vocabulary``), the paper's fixed method (``method``), the authors'
  published results (``published``), the datasets (``datasets``), the cache of our own scored
  answers (``scores``), all answers a chapter shows (``answers``), where files live (``locations``).
- ``helpers.analysis`` (imports ``data``): numbers only — ``metrics`` on (conf, correct) arrays,
  per-cell and per-model tables (``cells``), ``correlations``, ``significance``, ``abstention``,
  ``coverage`` and our scored models next to the paper's (``scored``).
- ``helpers.report`` (imports ``analysis`` and ``data``): what a reader sees — ``figures``,
  ``tables``, ``words`` and the typed ``facts`` each chapter glues into its prose.
- ``helpers.scoring`` (imports ``data``): prompts, grading, model specs, the ``backend`` protocol
  and its engines (``hf``), and the ``runner`` that fills the score cache.

The command lines are ``python -m helpers.score``, ``python -m helpers.tables`` and
``python -m helpers.book``; the chapters in ``notebooks/`` call the floors and glue their facts.
"""
