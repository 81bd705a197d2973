"""Report stage: figures and a self-contained HTML page, built from the results table alone."""
