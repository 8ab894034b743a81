"""Microscopy super-resolution training: crappifier, 3-frame data, stability loss, training and evaluation."""
