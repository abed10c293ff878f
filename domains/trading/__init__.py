"""Market-regime trading domain (issue 5, in progress): so far the synthetic regime-switching market."""
