"""Samplers: every way of drawing (improved) samples from a frozen GAN."""

from dotcli.samplers.base import SampleBatch, Sampler, SetupContext

__all__ = ["Sampler", "SampleBatch", "SetupContext"]
