"""Builds the optional C ETF decoder; birbctl falls back to pure Python without it."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "birbctl.codec._etf_c",
            sources=["birbctl/codec/_etf_c.c"],
            optional=True,
        )
    ]
)
