"""The dashboard's files (served by :mod:`mailtally.api.dashboard`): the page,
its script and style, and ``vendor/`` (uPlot, see vendor/README.md)."""
