"""The Stylist desktop application (PySide6): the only package that imports Qt.

Start it with :func:`stylist.gui.app.run`. The window shows what the service
(:mod:`stylist.service`) can do; every long operation runs in a worker thread
(:mod:`stylist.gui.workers`) so the window never freezes.
"""

from stylist.gui import compat as _compat

_compat.apply()
