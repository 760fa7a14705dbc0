#!/bin/sh
# Secrets mounted as files (Docker Compose secrets under /run/secrets) become environment variables of the process
# that needs them, at start: never a file in the image, never a value in dagster.yaml or the compose file.
# A variable already set (Kubernetes envSecrets, an env file from the secret store) is left as it is.
#   PERSONATWIN_RELEASE_KEY <- $PERSONATWIN_RELEASE_KEY_FILE (default /run/secrets/release_key; the code service only)
#   DAGSTER_PG_PASSWORD     <- $DAGSTER_PG_PASSWORD_FILE     (default /run/secrets/pg_password)
set -eu

from_file() {  # from_file VARIABLE FILE
    eval "current=\${$1:-}"
    if [ -n "$current" ] || [ ! -e "$2" ]; then
        return 0
    fi
    if [ ! -r "$2" ]; then
        echo "personatwin-entrypoint: $2 is not readable by uid $(id -u): make the secret file readable (mode 0444" \
             "in a 0700 folder, or owned by uid $(id -u))" >&2
        exit 1
    fi
    value=$(cat "$2")  # command substitution drops the trailing newline of the file
    export "$1=$value"
}

from_file PERSONATWIN_RELEASE_KEY "${PERSONATWIN_RELEASE_KEY_FILE:-/run/secrets/release_key}"
from_file DAGSTER_PG_PASSWORD "${DAGSTER_PG_PASSWORD_FILE:-/run/secrets/pg_password}"
unset value current
exec "$@"
