"""`nnkeras tune`: Keras Tuner searches whose trials are ordinary runs of the one trainer.

    jobs      a job file (experiment + space(hp)) read and checked; hp values -> `--set` keys
    search    one search, or a chief and workers; `--compare` of the four tuners
    tuner     the Keras Tuner subclass that trains a trial with nnkeras.training
    results   trials.csv, best_run.json and retraining the best trial
    compare   the table and plot of a tuner comparison
"""
