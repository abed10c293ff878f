"""The Streamlit front end: ``Home.py`` plus one page per domain under ``pages/``.

Page scripts hold layout only; what they compute lives in :mod:`metasuite.apps.logic` so tests can call it.
"""
