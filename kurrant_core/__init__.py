"""Kurrant Lens library: DE database, demo world, EDA, recommenders, shared output format, jobs.

Never imports streamlit; the dashboard, the CLI, the retrain job and the tests all use it directly.
"""
__version__ = "0.1.0"
