# Sourced by the scripts here: make .venv and install requirements.txt (which includes requirements/*.txt)
# into it when missing or when any of those files changed.
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_stamp="$_root/.venv/.requirements.sha256"
_want=$(cat "$_root/requirements.txt" "$_root"/requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$_root/.venv/bin/python" ]; then
    echo "creating $_root/.venv" >&2
    python3 -m venv "$_root/.venv"
fi
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
    echo "installing requirements.txt into .venv (the first time takes a few minutes)" >&2
    "$_root/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$_root/requirements.txt"
    echo "$_want" > "$_stamp"
fi
unset _root _stamp _want
