"""Samplers: every way of drawing (improved) samples from a frozen GAN."""

from dotcli.samplers.base import MethodInfo, SampleBatch, Sampler, SetupContext

__all__ = ["MethodInfo", "Sampler", "SampleBatch", "SetupContext"]
