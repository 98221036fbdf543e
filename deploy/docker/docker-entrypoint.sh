#!/bin/sh
# Entry point of the Docker image. The default command is `centrifugo` (as in Centrifugo's image);
# a command line that starts with a flag (`--config ...`) or names a Gyre subcommand
# (`checkconfig`, `version`, ...) runs through `gyre`; anything else (`centrifugo -c x`, `sh`)
# is run as given.
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ] || ! command -v "$1" >/dev/null 2>&1; then
  set -- gyre "$@"
fi
exec "$@"
