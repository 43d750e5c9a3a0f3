"""Reports: read results only (never backends): console tables, comparisons, rooflines, the
HTML/Markdown report, peaks, and regression checks over history."""
