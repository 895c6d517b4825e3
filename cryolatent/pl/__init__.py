"""Every figure (scanpy-style ``pl``): each function returns its matplotlib figure and never shows it.

- :mod:`.data` particle images, viewing directions, CTF;
- :mod:`.maps` map slices and projections, isosurface snapshots, FSC curves, volume series;
- :mod:`.latent` latent embeddings;
- :mod:`.training` loss curves, and :class:`LiveLossPlot` to watch them during training.

Write a figure with :func:`savefig` (atomic, no overwrite without ``force``).
"""

from cryolatent.pl._mpl import savefig
from cryolatent.pl.data import ctf_summary, particle_gallery, viewing_directions
from cryolatent.pl.latent import embedding
from cryolatent.pl.maps import fsc, map_views, volume, volume_series
from cryolatent.pl.training import LiveLossPlot, loss

__all__ = ["LiveLossPlot", "ctf_summary", "embedding", "fsc", "loss", "map_views", "particle_gallery", "savefig", "viewing_directions",
           "volume", "volume_series"]
