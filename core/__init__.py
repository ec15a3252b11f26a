"""Docent's core: settings, models, answering, evaluation and the CLI."""
