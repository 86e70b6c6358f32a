"""Reports: run folders in, one self-contained HTML file (and CSV/Markdown/LaTeX tables) out.

Reads only the files stages write (results.json, predictions.csv, manifests, generation and
fine-tuning records); never a model. ``write_report`` is the entry point.
"""
