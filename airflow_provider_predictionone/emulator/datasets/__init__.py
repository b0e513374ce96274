"""Uploaded data files, standard library only.

``reading`` streams the rows of a CSV/TSV file and reads column-info files, ``values`` parses
cells (missing values, numbers, dates), ``analysis`` computes the column statistics in one
bounded-memory pass, ``summary`` holds what that pass learns (and its Train Data Set Info form),
``quantiles`` the quantile helpers shared with the baseline models.
"""
