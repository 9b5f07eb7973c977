"""Evaluation of trained classifiers: predictions and metrics, bootstrap uncertainty, Grad-CAM and
saliency, the unsupervised embedding baseline, and ``astrotune predict`` for new objects."""
