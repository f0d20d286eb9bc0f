"""Labelled addresses: label files, label-broadcast tokens, entity labels, and the labels asset."""
