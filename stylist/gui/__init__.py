"""The Stylist desktop application (PySide6): the only package that imports Qt.

Start it with :func:`stylist.gui.app.run`. The window shows what the service
(:mod:`stylist.service`) can do; every long operation runs in a worker thread
(:mod:`stylist.gui.workers`) so the window never freezes.
"""

# The core first: once PySide6 is loaded it reads the source of every module imported after it
# (to look for ``from __feature__`` switches), which costs start-up time for nothing.
import stylist.service  # noqa: E402, F401
from stylist.gui import compat as _compat  # noqa: E402

_compat.apply()
