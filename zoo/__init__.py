"""The model zoo, imported as ``minicnn.zoo`` (being written)."""
