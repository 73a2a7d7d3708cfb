"""MC Vision core: images, providers, the side-by-side runner, storage, history, and the local cloud.

Never imports streamlit: the pages use this package, not the other way round.
"""

__version__ = "0.1.0"
