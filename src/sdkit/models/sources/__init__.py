"""sdkit's built-in model sources, each registered in the `sdkit.models` entry-point group."""
