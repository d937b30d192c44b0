"""The caller's account inside an image: one script for AIME's setup container and for Dockerfiles.

It runs as root with positional arguments only ($1 login, $2 uid, $3 gid, $4 prompt name,
$5 sudoers drop-in), so no user text is ever interpolated into it. It copes with a uid or gid
that already exists in the base (Ubuntu 24.04's `ubuntu` is 1000:1000), truncates
lastlog/faillog (high LDAP uids make them huge sparse files) and gives passwordless sudo.
Every line ends where a shell may continue, so the lines also work joined by a Dockerfile's
backslash continuations.
"""

LINES = (
    'set -eu;',
    'login="$1"; uid="$2"; gid="$3"; cname="$4"; sudoers="$5";',
    'if ! getent group "$gid" >/dev/null 2>&1; then',
    '  if getent group "$login" >/dev/null 2>&1; then groupmod -g "$gid" "$login"; else groupadd -g "$gid" '
    '"$login"; fi;',
    'fi;',
    'existing=$(getent passwd "$uid" | cut -d: -f1 || true);',
    'if [ -n "$existing" ] && [ "$existing" != "$login" ]; then',
    '  if getent passwd "$login" >/dev/null 2>&1; then userdel "$login"; fi;',
    '  usermod -l "$login" -d "/home/$login" -m -g "$gid" -s /bin/bash "$existing";',
    'elif [ -n "$existing" ]; then',
    '  usermod -g "$gid" -s /bin/bash "$login";',
    'else',
    '  if getent passwd "$login" >/dev/null 2>&1; then userdel "$login"; fi;',
    '  useradd -l -m -u "$uid" -g "$gid" -s /bin/bash "$login";',
    'fi;',
    'passwd -d "$login" >/dev/null 2>&1 || true;',
    'for g in video sudo; do getent group "$g" >/dev/null 2>&1 || groupadd -r "$g" || true; done;',
    'if ! command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then',
    '  (DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive'
    ' apt-get install -y -qq --no-install-recommends sudo git) >/dev/null 2>&1'
    ' || echo "ds01-setup: warning: could not install sudo (no network?)" >&2;',
    'fi;',
    'mkdir -p /etc/sudoers.d;',
    'printf \'%s ALL=(ALL) NOPASSWD: ALL\\n\' "$login" > "/etc/sudoers.d/$sudoers";',
    'chmod 0440 "/etc/sudoers.d/$sudoers";',
    'home=$(getent passwd "$login" | cut -d: -f6);',
    'mkdir -p "$home";',
    'for rc in /etc/skel/.bashrc "$home/.bashrc"; do',
    '  touch "$rc";',
    '  if ! grep -q "ds01: container shell" "$rc"; then',
    '    printf \'%s\\n\' "# ds01: container shell" "export PATH=\\"$home/.local/bin:\\$PATH\\""'
    ' "export PS1=\'[$cname] \\$(whoami)@\\$(hostname):\\${PWD#*}\\$ \'" >> "$rc";',
    '  fi;',
    'done;',
    'chown "$uid:$gid" "$home" "$home/.bashrc";',
    'for f in /var/log/lastlog /var/log/faillog; do if [ -e "$f" ]; then : > "$f"; fi; done;',
)


def script():
    """The script for `sh -c SCRIPT ds01-setup LOGIN UID GID NAME SUDOERS`."""
    return "\n".join(LINES) + "\nexit 0\n"


def dockerfile_run(args):
    """A Dockerfile RUN that sets the positional arguments from `args` (shell words of build-arg
    references such as "$DS01_USERNAME", never user text) and runs the script."""
    return "RUN set -- " + " ".join(args) + "; \\\n    " + " \\\n    ".join(LINES)
