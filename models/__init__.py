"""Model manifest and the reproducible build of models/build/ (`python -m models.build`).

The node never imports the build code; it reads models/build/models.json, the lock the
build writes last, once every file has been verified.
"""
