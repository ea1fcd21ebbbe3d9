"""Chapter 1, exercise 2: ((x * w).sum() + b).relu() records four Function nodes."""
import numpy as np

import minicnn
import minicnn.functional as F
from minicnn.tools.graph import graph_nodes

x = minicnn.Tensor(np.array([1.0, 2.0, 3.0]))
w = minicnn.Tensor(np.array([0.5, -0.5, 0.25]), requires_grad=True)
b = minicnn.Tensor(np.array(0.1), requires_grad=True)
out = F.relu((x * w).sum() + b)
names = [type(node).__name__ for node in graph_nodes(out)]
print(len(names), "nodes:", names)
assert len(names) == 4
assert names[0] == "Mul" and names[1] == "Sum" and names[2] == "Add"
assert "relu" in names[3].lower()
