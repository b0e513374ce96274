"""The emulator's dependency-free baseline models, their evaluation and the result archive.

``features`` turns columns into model inputs, ``sufficient`` holds the additive statistics the
models are fitted from, ``models`` the fitted models (and their file form), ``metrics`` the
evaluation metrics, ``checks`` what the data must satisfy, ``archive`` the result archive and
``training`` the two streaming passes that tie them together (:func:`.training.train`).

* Classification (binary and multi-class): categorical **Naive Bayes**. Numeric and date
  columns are cut into up to :data:`.features.NB_NUMERIC_BINS` quantile bins (edges from the column's
  reservoir sample), string and text columns use their :data:`.features.NB_MAX_CATEGORIES` most frequent
  values plus an "other" bucket; a missing value is a bucket of its own. Laplace smoothing
  (add one). ``im=true`` replaces the class prior by a uniform prior.
* Regression: **ridge linear regression** (``lambda`` = :data:`.models.RIDGE_LAMBDA`, intercept not
  penalised) on standardised numeric/date columns (missing -> mean) plus a one-hot encoding of
  the :data:`.features.RIDGE_MAX_CATEGORIES` most frequent values of each string column, solved from the
  normal equations by Gaussian elimination. At most :data:`.training.RIDGE_MAX_FIT_ROWS` evenly strided
  rows are used to fit.

Both models are fitted from additive sufficient statistics (counts, or X'X and X'y), which
makes k-fold cross-validation one streaming pass: each fold's model is "all folds minus this
fold". Evaluation (spec 7.20 archive layout): on the uploaded evaluation file when there is one,
otherwise k-fold cross-validation or a deterministic hold-out of the last
:data:`.training.HOLDOUT_FRACTION` of the rows, depending on ``cv`` (see :func:`.training.evaluation_plan`).
"""
