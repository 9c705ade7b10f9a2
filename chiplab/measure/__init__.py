"""Real-device timing (``chiplab measure``) and calibration of a chip class's efficiency
knobs to those measurements (``chiplab calibrate``)."""
