"""MNIST's 10k test split, bundled so that examples and tests run with no download.

The MNIST database (LeCun, Cortes, Burges), CC BY-SA 3.0, in its standard gzipped IDX form.
"""
