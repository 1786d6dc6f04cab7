"""Three adjustments to the build that pyproject.toml cannot say:

- the wheel's tag is py3-none-<platform>: the package holds a shared library that
  redis-server loads, not a Python extension, so it fits every Python 3 there;
- the library keeps its own name, libredis_ratelimit.so, rather than a Python
  extension's suffix (.cpython-311-x86_64-linux-gnu.so);
- the script library, the repository's lua/ratelimit.lua, is copied into the package
  (one source: the module crate and the axum crate read the same file).
"""

import os
import shutil

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools_rust import build_rust

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "..", "lua", "ratelimit.lua")


class PlatformWheel(bdist_wheel):
    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class BuildModule(build_rust):
    def get_dylib_ext_path(self, ext, target_fname):  # type: ignore[no-untyped-def]
        path = super().get_dylib_ext_path(ext, target_fname)
        return os.path.join(os.path.dirname(path), "libredis_ratelimit.so")


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_lib, "redis_ratelimit", "ratelimit.lua")
        shutil.copyfile(LUA, target)


setup(cmdclass={"bdist_wheel": PlatformWheel, "build_rust": BuildModule, "build_py": BuildPy})
