"""The compiled part of mailtally: everything else is in pyproject.toml.

``mailtally.ingest._fastlog`` is the C twin of the log parsers and the joiner
(the hot loop of ``mailtally ingest``).  The pure-Python modules stay the
reference: tests check that both give the same answers.
"""

from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mailtally.ingest._fastlog",
            sources=sorted(glob("src/mailtally/ingest/_fastlog/*.c")),
            depends=sorted(glob("src/mailtally/ingest/_fastlog/*.h")),
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            # without a compiler the package still installs, and ingestion takes
            # the pure-Python path (ten times slower; the tests require the build)
            optional=True,
        )
    ]
)
