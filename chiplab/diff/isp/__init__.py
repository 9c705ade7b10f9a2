"""A differentiable camera ISP: exact stages as pure functions, thin modules holding the
hardware parameters, an :class:`Isp` pipeline that is also a chiplab HardwareBlock, and
unprocessing (Brooks et al. 2019) to make RAW data from ordinary images."""
from chiplab.diff.isp.bayer import BayerPattern, bayer_masks
from chiplab.diff.isp.functional import (black_level, color_correction, demosaic_bilinear, demosaic_malvar, denoise,
                                         gamma, lens_shading, mosaic, psnr, sharpen, smoothstep, tone_curve,
                                         white_balance)
from chiplab.diff.isp.hwcost import IspHardware, isp_hw_cost, line_buffer_bytes
from chiplab.diff.isp.modules import (BlackLevel, ColorCorrection, Demosaic, Denoise, Gamma, Isp, LensShading,
                                      Sharpen, ToneCurve, WhiteBalance)
from chiplab.diff.isp.unprocess import IspParams, NoiseModel, inverse_smoothstep, low_light, unprocess

__all__ = ["BayerPattern", "BlackLevel", "ColorCorrection", "Demosaic", "Denoise", "Gamma", "Isp", "IspHardware",
           "IspParams", "LensShading", "NoiseModel", "Sharpen", "ToneCurve", "WhiteBalance", "bayer_masks",
           "black_level", "color_correction", "demosaic_bilinear", "demosaic_malvar", "denoise", "gamma",
           "inverse_smoothstep", "isp_hw_cost", "lens_shading", "line_buffer_bytes", "low_light", "mosaic", "psnr",
           "sharpen", "smoothstep", "tone_curve", "unprocess", "white_balance"]
