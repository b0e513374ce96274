"""The Prediction One API layer: HTTP and the REST contract, nothing about Airflow.

Import the pieces from their modules; this package keeps imports light so that a DAG file that
imports an operator does not pay for the HTTP stack at parse time.
"""
