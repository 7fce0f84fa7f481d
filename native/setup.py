"""The stack-file builder's common case in C (components/stackfile.py falls back to Python without it).

Optional: without a C compiler, Python's headers or yaml.h (Debian: gcc, python3-dev, libyaml-dev)
the build warns and installs nothing, and every command still works, only slower to load large
stacks. libyaml itself is not linked: the module binds PyYAML's copy at import.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "alerting_yamlbuild",
            ["alerting_yamlbuild.c"],
            libraries=["dl"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ],
)
