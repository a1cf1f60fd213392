"""Build the compiled core: every ext/*.pyx becomes shingles.<name>.

SHINGLES_PUREPYTHON=1 skips the extension on purpose (the plain-Python reference
then runs). Otherwise a failing compiler fails the build: a silently slow
install is worse than a clear error.
"""

import os
import pathlib
import sys

from setuptools import setup

HERE = pathlib.Path(__file__).parent


def extensions():
    if os.environ.get("SHINGLES_PUREPYTHON"):
        print("shingles: SHINGLES_PUREPYTHON is set, building without the compiled core",
              file=sys.stderr)
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    flags = [] if sys.platform == "win32" else ["-O3", "-fno-strict-aliasing"]
    modules = []
    for pyx in sorted((HERE / "ext").glob("*.pyx")):
        sources = [f"ext/{pyx.name}"]
        include = ["ext"]
        if pyx.stem == "_core":
            sources.append("ext/kernels.c")
        modules.append(Extension(
            f"shingles.{pyx.stem}",
            sources,
            include_dirs=include,
            extra_compile_args=flags,
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        ))
    return cythonize(modules, compiler_directives={"language_level": "3"})


setup(ext_modules=extensions())
