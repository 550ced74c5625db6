"""Matplotlib figures. Functions return Figure objects and never call ``plt.show``."""
