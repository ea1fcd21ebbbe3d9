"""The exercise skeletons: ``minicnn exercise start NAME`` copies NAME.py from here.

Every function body raises ``NotImplementedError("TODO: ...")``; the docstrings
carry the shapes, the maths and a hint for the backward.
"""
