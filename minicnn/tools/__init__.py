"""Tools around the engine: the command line, model summaries, pictures,
environment reports and the gradient-check table of every op.

Nothing in the engine imports from here; the public names stay at the top
(``minicnn.summary``, ``minicnn.info``).
"""
