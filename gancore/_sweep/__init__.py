"""Hyper-parameter sweeps with Optuna (``gancore sweep``), one module per job:

- ``sweepfile``: the sweep file read and checked like a recipe, every error at once, the
  search space against the recipe itself; its resolved form, which the sweep folder keeps;
- ``study``: the Optuna side: storage, sampler, pruner, the study shared by every
  process, what counts as a finished trial, trials whose process died;
- ``trial``: one trial, an ordinary run directory: values sampled, trained, the objective
  reported at each evaluation, pruned, failed with its reason, resumed;
- ``workers``: the loop that runs trials until the study has enough, ``--jobs`` processes
  and the signals that stop them;
- ``summary``: what ``gancore sweep DIR --show`` prints, and the best trial's recipe.

Nothing here is imported by ``gancore`` itself: Optuna is an optional dependency
(``pip install "gancore[sweep]"``), imported only when a sweep runs.
"""
