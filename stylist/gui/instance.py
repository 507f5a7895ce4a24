"""One window per library: a second start asks the first to come to the front, then exits.

The first instance listens on a local socket named after the library folder (QLocalServer); a
later one connects, sends "raise" and quits. A socket left behind by a crash is noticed (nobody
answers) and replaced.
"""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_MS = 500


def server_name(library_dir: Path) -> str:
    """A socket name unique to this user and library folder (short: sockets have a length cap)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some sandboxes
        user = "user"
    digest = hashlib.sha256(f"{user}\0{Path(library_dir).resolve()}".encode()).hexdigest()
    return f"stylist-{digest[:20]}"


class SingleInstance(QObject):
    activated = Signal()  # another start asked this window to come to the front

    def __init__(self, library_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(library_dir)
        self.server: QLocalServer | None = None
        self._sockets: list[QLocalSocket] = []

    def notify_running(self) -> bool:
        """True when another instance has this library open (and was asked to show itself)."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(CONNECT_MS):
            return False
        socket.write(b"raise\n")
        socket.flush()
        socket.waitForBytesWritten(CONNECT_MS)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self.server.listen(self.name):
            QLocalServer.removeServer(self.name)  # left behind by a crash
            if not self.server.listen(self.name):
                return False
        self.server.newConnection.connect(self._connection)
        return True

    def _connection(self) -> None:
        while self.server is not None and self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            self._sockets.append(socket)
            socket.readyRead.connect(self._read)
            if socket.bytesAvailable():
                self._read()

    def _read(self) -> None:
        for socket in list(self._sockets):
            if socket.bytesAvailable():
                data = bytes(socket.readAll())
                self._sockets.remove(socket)
                socket.abort()
                if b"raise" in data:
                    self.activated.emit()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
