#!/usr/bin/env bash
# Install a real Prometheus Alertmanager (>= 0.29, the first with `incidentio_configs`) for tests.
#
# Debian stable (bookworm) ships Alertmanager 0.25, which has no incident.io receiver. Debian
# unstable (sid) ships a newer one that is a static Go binary and installs on bookworm with
# only libc6, adduser and tzdata. This script:
#   1. does nothing if `alertmanager --version` already reports >= 0.29;
#   2. fetches the sid .deb with a PRIVATE apt sources list, lists dir and cache in a temp dir
#      (the system's /etc/apt/sources.list*, /var/lib/apt/lists are never touched), using the
#      same Debian mirror the system already uses, and the Debian archive keyring to verify it;
#   3. installs it with dpkg, with a policy-rc.d that forbids starting its service (the
#      postinst calls invoke-rc.d ... start), and checks that no alertmanager daemon was started;
#   4. links /usr/local/bin/alertmanager -> /usr/bin/prometheus-alertmanager (Debian's name);
#   5. verifies `alertmanager --version` and `amtool --version`.
#
# Needs root. Env: ALERTMANAGER_MIN_VERSION (default 0.29.0), DEBIAN_MIRROR (override the
# mirror taken from the system's apt configuration).
set -euo pipefail

MIN_VERSION="${ALERTMANAGER_MIN_VERSION:-0.29.0}"
PKG=prometheus-alertmanager
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
LINK=/usr/local/bin/alertmanager

log() { printf '[install-alertmanager] %s\n' "$*"; }
die() { printf '[install-alertmanager] ERROR: %s\n' "$*" >&2; exit 1; }

# Prints the version number (e.g. 0.33.1) that `$1 --version` reports, or nothing.
# (No reader that exits early, like head: with pipefail its SIGPIPE would fail the pipeline.)
binary_version() {
    "$1" --version 2>&1 | sed -n 's/^[a-z-]*, version \([0-9][0-9.]*\).*/\1/p' | sed -n 1p
}

version_ok() {  # $1 = binary; true if it reports a version >= MIN_VERSION
    local v
    v="$(binary_version "$1" || true)"
    [[ -n "$v" ]] && dpkg --compare-versions "$v" ge "$MIN_VERSION"
}

verify() {
    log "verifying:"
    alertmanager --version 2>&1 | sed 's/^/    /'
    amtool --version 2>&1 | sed 's/^/    /'
    version_ok "$(command -v alertmanager)" || die "alertmanager is older than $MIN_VERSION"
    amtool --version >/dev/null 2>&1 || die "amtool does not run"
}

ensure_link() {
    if ! command -v alertmanager >/dev/null 2>&1 && [[ -x /usr/bin/prometheus-alertmanager ]]; then
        log "linking $LINK -> /usr/bin/prometheus-alertmanager"
        mkdir -p "$(dirname "$LINK")"
        ln -sfn /usr/bin/prometheus-alertmanager "$LINK"
    fi
}

# --- 1. already there? --------------------------------------------------------------------
ensure_link_if_installed() {
    if [[ -x /usr/bin/prometheus-alertmanager ]] && version_ok /usr/bin/prometheus-alertmanager; then
        ensure_link
    fi
}
ensure_link_if_installed
if command -v alertmanager >/dev/null 2>&1 && version_ok "$(command -v alertmanager)" \
    && command -v amtool >/dev/null 2>&1; then
    log "alertmanager $(binary_version "$(command -v alertmanager)") (>= $MIN_VERSION) is already installed: nothing to do"
    verify
    exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "must run as root (installs a Debian package)"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (Debian)"
[[ -r "$KEYRING" ]] || die "missing $KEYRING (package debian-archive-keyring)"

# --- 2. private apt configuration -----------------------------------------------------------
MIRROR="${DEBIAN_MIRROR:-}"
if [[ -z "$MIRROR" ]]; then
    # shellcheck disable=SC1091
    CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    [[ -n "$CODENAME" ]] || die "cannot read VERSION_CODENAME from /etc/os-release; set DEBIAN_MIRROR"
    # The repository the system uses for "<codename> main" (not -security / -updates).
    MIRROR="$(apt-get indextargets --no-release-info \
                --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(TARGET_OF)' 2>/dev/null \
              | awk -v c="$CODENAME" '$2 == c && $3 == "main" && $4 == "deb" && !found {print $1; found = 1}')"
    [[ -n "$MIRROR" ]] || die "no '$CODENAME main' Debian repository in the system's apt sources; set DEBIAN_MIRROR"
fi
MIRROR="${MIRROR%/}"
log "Debian mirror (from the system's apt sources): $MIRROR, suite sid"

TMP="$(mktemp -d /tmp/install-alertmanager.XXXXXX)"
POLICY=/usr/sbin/policy-rc.d
POLICY_BACKUP=""
POLICY_INSTALLED=0
cleanup() {
    if [[ "$POLICY_INSTALLED" -eq 1 ]]; then
        rm -f "$POLICY"
        if [[ -n "$POLICY_BACKUP" ]]; then
            mv -f "$POLICY_BACKUP" "$POLICY"
            log "restored the original $POLICY"
        fi
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP/lists/partial" "$TMP/cache/archives/partial" "$TMP/deb"
echo "deb [signed-by=$KEYRING] $MIRROR sid main" >"$TMP/sid.list"
# Let apt's unprivileged download user write there (avoids the "unsandboxed" warning).
chmod 755 "$TMP"
if id _apt >/dev/null 2>&1; then chown -R _apt:root "$TMP/lists" "$TMP/cache" "$TMP/deb"; fi

APT_OPTS=(
    -o "Dir::Etc::SourceList=$TMP/sid.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$TMP/lists"
    -o "Dir::Cache=$TMP/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Get::List-Cleanup=false"
    -q
)
log "apt-get update with a private sources list ($TMP/sid.list)"
apt-get "${APT_OPTS[@]}" update
CANDIDATE="$(apt-cache "${APT_OPTS[@]}" show "$PKG" 2>/dev/null | sed -n 's/^Version: //p' | sed -n 1p)"
[[ -n "$CANDIDATE" ]] || die "$PKG not found in sid"
UPSTREAM="${CANDIDATE#*:}"; UPSTREAM="${UPSTREAM%%-*}"; UPSTREAM="${UPSTREAM%%+*}"
dpkg --compare-versions "$UPSTREAM" ge "$MIN_VERSION" \
    || die "sid has $PKG $CANDIDATE, older than $MIN_VERSION"
log "downloading $PKG $CANDIDATE from sid"
(cd "$TMP/deb" && apt-get "${APT_OPTS[@]}" download "$PKG")
DEB="$(ls "$TMP"/deb/"$PKG"_*.deb)"
log "downloaded $(basename "$DEB") ($(du -h "$DEB" | cut -f1)); apt checked it against sid's signed Release"

# --- 3. dependencies (from the system's own sources) ----------------------------------------
DEPENDS="$(dpkg-deb -f "$DEB" Depends)"
log "package depends on: $DEPENDS"
# installed_version NAME: the installed version of package NAME, or nothing.
installed_version() {
    { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } \
        | awk '$3 == "installed" && !found {print $4; found = 1}'
}
# dep_satisfied "NAME [(OP VERSION)]": true if installed and the version constraint holds.
dep_satisfied() {
    local dep="$1" name op ver installed
    name="${dep%% *}"; name="${name%%:*}"
    installed="$(installed_version "$name")"
    [[ -n "$installed" ]] || return 1
    if [[ "$dep" =~ \(([\<\>=]+)\ *([^\)]+)\) ]]; then
        op="${BASH_REMATCH[1]}"; ver="${BASH_REMATCH[2]}"
        case "$op" in
            ">=") op=ge ;; "<=") op=le ;; ">>") op=gt ;; "<<") op=lt ;; "=") op=eq ;;
            *) return 1 ;;
        esac
        dpkg --compare-versions "$installed" "$op" "$ver" || return 1
    fi
    return 0
}
# group_satisfied "A (>= 1) | B": true if one of the alternatives is satisfied.
group_satisfied() {
    local alt
    IFS='|' read -ra ALTERNATIVES <<<"$1"
    for alt in "${ALTERNATIVES[@]}"; do
        alt="$(echo "$alt" | sed 's/^ *//; s/ *$//')"
        dep_satisfied "$alt" && return 0
    done
    return 1
}
MISSING=()
IFS=',' read -ra DEP_LIST <<<"$DEPENDS"
for group in "${DEP_LIST[@]}"; do
    group_satisfied "$group" && continue
    first="$(echo "${group%%|*}" | sed 's/^ *//; s/ *$//')"
    name="${first%% *}"; name="${name%%:*}"
    if [[ "$name" == libc6 ]]; then
        die "$PKG $CANDIDATE needs $first; this system has libc6 $(installed_version libc6) (too old to install)"
    fi
    MISSING+=("$name")
done
if [[ ${#MISSING[@]} -gt 0 ]]; then
    log "installing missing dependencies from the system's apt sources: ${MISSING[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${MISSING[@]}"; then
        apt-get update
        apt-get install -y --no-install-recommends "${MISSING[@]}"
    fi
    # Check again so that dpkg is never left with a half-configured package.
    for group in "${DEP_LIST[@]}"; do
        group_satisfied "$group" || die "dependency '$group' still not satisfied; not installing $PKG"
    done
fi

# --- 4. install with dpkg, never starting the service ---------------------------------------
if [[ -e "$POLICY" ]]; then
    POLICY_BACKUP="$TMP/policy-rc.d.orig"
    cp -p "$POLICY" "$POLICY_BACKUP"
fi
printf '#!/bin/sh\n# temporary, from install-alertmanager.sh: start no service\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"
POLICY_INSTALLED=1
# Alertmanager processes running before dpkg (e.g. someone's tests), so that only a daemon the
# package itself started is reported and stopped.
am_pids() {
    local p
    for p in /proc/[0-9]*; do
        [[ "$(readlink "$p/exe" 2>/dev/null)" == /usr/bin/prometheus-alertmanager* ]] && echo "${p#/proc/}"
    done | sort
    return 0
}
RUNNING_BEFORE="$(am_pids)"
log "installing with dpkg (policy-rc.d forbids starting the service; no systemd here)"
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confdef --force-confold "$DEB"

RUNNING_AFTER="$(am_pids)"
NEW_PIDS="$(comm -13 <(echo "$RUNNING_BEFORE") <(echo "$RUNNING_AFTER") | tr '\n' ' ' | sed 's/ *$//')"
if [[ -n "$NEW_PIDS" ]]; then
    log "WARNING: the package started an alertmanager daemon (pid $NEW_PIDS); stopping it"
    /etc/init.d/prometheus-alertmanager stop || true
else
    log "no alertmanager service was started"
fi

ensure_link
hash -r
verify
log "done: $PKG $(dpkg-query -W -f='${Version}' "$PKG") installed"
