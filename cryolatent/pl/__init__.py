"""Every figure (scanpy-style ``pl``): each function returns its figure and never shows it.

- :mod:`.data` particles, viewing directions, CTF, map slices.
"""

from cryolatent.pl.data import ctf_summary, map_views, particle_gallery, viewing_directions

__all__ = ["ctf_summary", "map_views", "particle_gallery", "viewing_directions"]
