"""Installation of surgvista_mm.

mmcv is deliberately not in ``install_requires``: mmaction2 1.2.0 needs ``mmcv < 2.2`` and PyPI only
has a source tarball of the full mmcv (it needs compiling and fails on current setuptools), while
GPU clusters often already have a full ``mmcv`` 2.0/2.1 build that must not be replaced. setup.py
cannot see installed packages under pip's build isolation, so the choice is an extra:

    pip install -e .[lite]   # pure-Python mmcv-lite 2.1.0 (enough: no compiled op is used)
    pip install -e .         # keep the mmcv already installed

``make install`` (see the Makefile) picks the right one automatically.
"""
import os

from setuptools import find_namespace_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version() -> str:
    scope: dict = {}
    with open(os.path.join(HERE, 'surgvista_mm', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)  # our own file: a single assignment
    return scope['__version__']


setup(
    name='surgvista_mm',
    version=read_version(),
    description='SurgVISTA surgical video foundation model and benchmark as an OpenMMLab plugin',
    long_description=open(os.path.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    # the data folders (no __init__.py) are declared as packages of their own, so setuptools
    # neither warns "Package would be ignored" nor drops them in a future release
    packages=find_namespace_packages(include=['surgvista_mm', 'surgvista_mm.*'],
                                     exclude=['*.__pycache__']),
    package_data={'surgvista_mm.evaluation.data': ['*.txt', '*.json'],
                  'surgvista_mm.evaluation.data.classes': ['*.txt'],
                  'surgvista_mm.data_prep.benchmark_splits': ['*.txt']},
    include_package_data=True,
    install_requires=[
        'torch>=2.6',  # safe_globals, and weights_only=True by default for mmengine's loaders
        'numpy>=1.23',
        'mmengine>=0.10.4,<0.11',
        'mmaction2==1.2.0',
        'timm>=0.9',
        'decord>=0.6.0',
        'importlib_metadata',  # imported by mmaction2 1.2.0 without declaring it
        'scikit-learn>=1.2',
        'scipy>=1.9',
        'tensorboard>=2.10',
        'tqdm>=4.60',
        'turbojpeg>=0.0.2',  # bundles libturbojpeg 3: region decoding of the crop window
        'openpyxl>=3.1',  # the official Cholec80-CVS workbook (.xlsx)
        'imagehash>=4.3',  # perceptual hashes of the leakage guard
    ],
    extras_require={
        'lite': ['mmcv-lite==2.1.0'],
        'full': ['mmcv>=2.0.0,<2.2.0'],
        'tests': ['pytest>=7', 'ivtmetrics==0.1.5'],  # ivtmetrics: a test-time cross-check only
        'crosscheck': ['ivtmetrics==0.1.5'],
        # the peer of tools/benchmark/pretrain_step.py --peer hf; never imported by the package
        'peer-benchmark': ['transformers>=5'],
    },
    zip_safe=False,
)
