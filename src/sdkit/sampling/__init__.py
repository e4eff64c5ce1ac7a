"""A1111's own sampling: k-diffusion-style samplers over (denoiser, x, sigmas), its sigma schedules,
DDIM timesteps and noise sources (CPU generators, Brownian trees, the NV reimplementation of CUDA's randn).

Pure tensor math (torch imported inside functions); the SD engine wraps a diffusers UNet as the denoiser.
Rules: shared/reference/a1111-prompts.md §10-11.
"""
