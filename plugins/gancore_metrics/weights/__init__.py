"""Trained weights shipped as package data (see scripts/train_mnist_features.py)."""
