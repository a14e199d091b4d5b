"""Which models to merge with which: ranked merge candidates and the evaluation that checks the ranking."""
