"""Builds the optional C accelerators (ETF decoding, capture lines, the receive path);
birbctl falls back to pure Python without them, with the same results."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "birbctl.codec._etf_c",
            sources=["birbctl/codec/_etf_c.c"],
            optional=True,
        ),
        Extension(
            "birbctl.capture._lines_c",
            sources=["birbctl/capture/_lines_c.c"],
            optional=True,
        ),
        Extension(
            "birbctl.transport._receive_c",
            sources=["birbctl/transport/_receive_c.c"],
            optional=True,
        ),
    ]
)
