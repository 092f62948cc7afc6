"""The paper's toy models of singularities: two hidden units (Fig 2), linear modes (Fig S4), deep linear modes (Fig S5).

Each module's `run(out_dir)` writes its PNG figures and a JSON file of the numbers behind
them and returns that summary; `summary_rows(summary)` says what the command line prints.
"""
