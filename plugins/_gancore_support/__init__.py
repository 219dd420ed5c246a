"""Internal helpers of gancore's first-party plugins; not a plugin and not an API.

First-party plugins never import each other, so what several of them need lives here,
one module per job: ``layers`` (weighted layers under a swappable normalization),
``encoder_decoder`` (a small skip U-Net built from them), ``images`` (what image networks
read from the data spec), ``domains`` (layers with one state per domain), ``sampling``
(the sample grid of schemes that translate a source), ``mnist`` (the subsets of the
bundled MNIST split and the restyled digits derived datasets are made of) and
``recipes`` (a plugin's folder of built-in recipes).

It ships with gancore but may change with any release: third-party plugins use the
``gancore`` API instead. It imports no plugin, so every plugin may import it.
"""
