"""A1111's own sampling: k-diffusion-style samplers over (denoiser, x, sigmas), its sigma schedules,
DDIM timesteps and noise sources (CPU generators, Brownian trees, the NV reimplementation of CUDA's randn).

Rules: shared/reference/a1111-prompts.md §10-11. Modules, each with one job:
- `nv_rng`: the NV source (numpy only, light);
- `sigmas`: the model's σ table, σ ↔ t, the schedules, A1111's DDIM timesteps;
- `steps`: protocols and helpers every sampler shares (no torch import);
- `samplers_ode`, `samplers_stochastic`, `ddim`: the samplers; `samplers_extra`: A1111's own LCM and Restart;
- `noise`: per-image generators and Brownian trees;
- `denoiser`: a diffusers UNet as A1111's CFG denoiser, and A1111's uint8 decode;
- `run`: txt2img/img2img latents, the sampler table (A1111's options per sampler).
Importing this package is light; `sigmas`, `noise`, `denoiser`, `ddim` and `run` import torch, so only
the engine side imports them. What is A1111-exact: docs/samplers.md, "A1111-faithful sampling".
"""
