"""What pyproject.toml cannot say about this package's build.

The package carries the module, a shared library that redis-server loads (never
imported by Python), and the script library, a Lua file. Both come from the Rust crate:

- in the repository, the crate is one folder up (``../Cargo.toml``, ``../lua``);
- in the sdist, ``make dist`` puts the packaged crate under ``module/``;
- ``REDIS_RATELIMIT_MODULE=/path/to/libredis_ratelimit.so`` takes a module already
  built instead of running cargo: ``make dist`` builds it once, for glibc 2.17, and
  puts that same file in the archive and in the wheel.

The wheel's tag is py3-none-<platform>: the library fits every Python 3 on that
platform. The library keeps its own name, libredis_ratelimit.so, rather than a Python
extension's suffix (.cpython-311-x86_64-linux-gnu.so).
"""

import os
import shutil

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools_rust import Binding, RustExtension, Strip, build_rust

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_FILE = "libredis_ratelimit.so"
PREBUILT = os.environ.get("REDIS_RATELIMIT_MODULE")


def crate_dir() -> str:
    """The Rust crate: the sdist's copy, else the repository's."""
    for candidate in (os.path.join(HERE, "module"), os.path.join(HERE, "..")):
        if os.path.isfile(os.path.join(candidate, "Cargo.toml")):
            return candidate
    raise SystemExit("the module's crate is missing: neither module/ nor ../ has a Cargo.toml")


CRATE = crate_dir()


class BinaryDistribution(Distribution):
    """A prebuilt module is package data to setuptools, yet the package holds a native
    library: not pure, installed to platlib, tagged for the platform."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class BuildModule(build_rust):
    def get_dylib_ext_path(self, ext, target_fname):  # type: ignore[no-untyped-def]
        path = super().get_dylib_ext_path(ext, target_fname)
        return os.path.join(os.path.dirname(path), MODULE_FILE)


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        package = os.path.join(self.build_lib, "redis_ratelimit")
        lua = os.path.join(CRATE, "lua", "ratelimit.lua")
        shutil.copyfile(lua, os.path.join(package, "ratelimit.lua"))
        if PREBUILT:
            # Executable, as cargo leaves it: Redis 7 refuses to load a module that is not.
            target = os.path.join(package, MODULE_FILE)
            shutil.copyfile(PREBUILT, target)
            os.chmod(target, 0o755)


rust_extensions = []
if not PREBUILT:
    rust_extensions.append(
        RustExtension(
            "redis_ratelimit.libredis_ratelimit",
            path=os.path.join(CRATE, "Cargo.toml"),
            binding=Binding.NoBinding,
            # The crate's release profile (panic = "unwind" for the panic guard), without
            # debug info; the symbols stay, so a crash report still names functions.
            debug=False,
            strip=Strip.Debug,
        )
    )

setup(
    distclass=BinaryDistribution,
    rust_extensions=rust_extensions,
    cmdclass={"bdist_wheel": PlatformWheel, "build_rust": BuildModule, "build_py": BuildPy},
)
