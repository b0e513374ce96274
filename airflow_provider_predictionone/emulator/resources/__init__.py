"""The handlers of the emulated API, one module per resource.

``keys`` (Get API Key, and the authentication of every management call), ``training`` (upload
URLs, column info, Train, Train Status), ``catalog`` (Get/Delete Model and Data Set),
``transfers`` (the upload and download URLs), ``classifiers`` (prediction APIs), ``inference``
and ``retraining``. Each takes the :class:`~..state.Store` and what else it needs;
:class:`~..app.EmulatorApp` routes requests to them.
"""
