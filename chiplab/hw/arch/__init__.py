"""Architecture classes, one module each; :mod:`chiplab.hw.spec` unites them on ``kind``."""
