"""Training: settings, process set-up, compiling a classifier, the epoch loop with checkpoints and
resume, optimisers and learning-rate schedules, and the frozen-prefix feature cache it can train on."""
