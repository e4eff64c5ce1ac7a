"""Entry in `sdkit.samplers`: a `SamplerAlias` adding names for a sampler sdkit already has.

A plugin can also register a whole `SamplerSpec` (a new sampler with its diffusers scheduler class);
an alias is the small case: it makes `--sampler flat-euler` mean sdkit's `euler`.
"""

from sdkit.samplers.spec import SamplerAlias

FLAT_ALIAS = SamplerAlias(target="euler", names=("flat-euler", "Example Euler"))
