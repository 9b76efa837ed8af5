"""Turning results into text: the runner, the output layer, pager, views, completion."""
