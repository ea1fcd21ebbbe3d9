"""minicnn: a from-scratch deep-learning engine on NumPy (CPU) and CuPy (GPU).

kernels/ and zoo/ sit at the repository root (the user's layout) but are
installed inside the minicnn namespace as ``minicnn.kernels`` and
``minicnn.zoo``: generic top-level names like ``kernels`` are taken on PyPI.
"""
import os
import re

from setuptools import setup

with open(os.path.join("minicnn", "version.py"), encoding="utf-8") as f:
    VERSION = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)

LAYOUT = {
    "minicnn": "minicnn",
    "minicnn.functional": "minicnn/functional",
    "minicnn.nn": "minicnn/nn",
    "minicnn.optim": "minicnn/optim",
    "minicnn.data": "minicnn/data",
    "minicnn.train": "minicnn/train",
    "minicnn.tools": "minicnn/tools",
    "minicnn.runtime": "minicnn/runtime",
    "minicnn.distributed": "minicnn/distributed",
    "minicnn.exercises": "minicnn/exercises",
    "minicnn.exercises.skeletons": "minicnn/exercises/skeletons",
    "minicnn.kernels": "kernels",
    "minicnn.kernels.cpu": "kernels/cpu",
    "minicnn.kernels.cuda": "kernels/cuda",
    "minicnn.zoo": "zoo",
    "minicnn.bench": "benchmarks",
}
# Install the packages that exist in this checkout.
PACKAGES = {name: path for name, path in LAYOUT.items()
            if os.path.isfile(os.path.join(path, "__init__.py"))}

# the numba backend, and TBB: a thread pool for Numba that a foreign OpenMP
# runtime (torch imported before minicnn) cannot slow down (runtime/threads.py)
NUMBA = ["numba>=0.60",
         "tbb>=2021.6; platform_system == 'Linux' and platform_machine == 'x86_64'"]

setup(
    name="minicnn",
    version=VERSION,
    description="A from-scratch NumPy/CuPy deep-learning engine you can read, gradcheck and time",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=list(PACKAGES),
    package_dir=PACKAGES,
    package_data={"minicnn.kernels.cuda": ["*.cu"]},
    install_requires=["numpy>=1.24"],
    extras_require={
        "numba": NUMBA,
        "cuda": ["cupy-cuda12x>=13"],
        "train": ["tqdm>=4.60", "matplotlib>=3.7", "pillow>=9", "scikit-learn>=1.3",
                  "threadpoolctl>=3.1"],
        "bench": ["threadpoolctl>=3.1", "psutil>=5.9", "matplotlib>=3.7"],
        # MPI through mpi4py; the mpich wheel brings libmpi and mpiexec into the venv's bin/
        "distributed": ["mpi4py>=4", "mpich>=4"],
        "test": [
            "pytest>=7",
            "pytest-xdist>=3",
            "hypothesis>=6.80",
            "torch==2.14.1",
            "torchvision==0.29.1",
            *NUMBA,
            "tqdm>=4.60",
            "matplotlib>=3.7",
            "pillow>=9",
            "scikit-learn>=1.3",
            "threadpoolctl>=3.1",
            "psutil>=5.9",
            "ruff>=0.4",
            "mpi4py>=4",
            "mpich>=4",
        ],
    },
    entry_points={"console_scripts": ["minicnn=minicnn.tools.cli:main"]},
)
