#!/bin/sh
# Adds this unpacked Stylist folder to the desktop's menu (a desktop entry and icon under
# ~/.local/share) and a `stylist` command in ~/.local/bin. Nothing is copied elsewhere and
# nothing needs root. `./install.sh --uninstall` takes both away again; your wardrobe stays.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
bin="$HOME/.local/bin"
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$apps/stylist.desktop" "$icons/stylist.svg"
    [ -L "$bin/stylist" ] && rm -f "$bin/stylist"
    echo "Stylist is no longer in the menu. Delete $here to remove the program itself."
    exit 0
fi
mkdir -p "$apps" "$icons" "$bin"
cp "$here/stylist.svg" "$icons/stylist.svg"
sed -e "s|^Exec=.*|Exec=\"$here/Stylist\" %F|" -e "s|^Icon=.*|Icon=$here/stylist.svg|" \
    "$here/stylist.desktop" > "$apps/stylist.desktop"
ln -sf "$here/Stylist" "$bin/stylist"
echo "Stylist is in your applications menu, and \`stylist\` runs it from a terminal ($bin)."
