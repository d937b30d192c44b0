# ds01: put the commands on PATH and load tab completion in interactive bash.
# `make install` puts this in /etc/profile.d/. DS01_HOME is the install in use (make install's
# /opt/ds01/current); its bin/ holds ds01's commands and nothing else, so the users' own python3,
# pip and pytest come first as before. A checkout instead: DS01_HOME=<checkout>
# DS01_BIN=<checkout>/.venv/bin (after `make deps`).
DS01_HOME=${DS01_HOME:-/opt/ds01/current}
DS01_BIN=${DS01_BIN:-$DS01_HOME/bin}
case ":$PATH:" in
    *":$DS01_BIN:"*) ;;
    *) [ -d "$DS01_BIN" ] && PATH="$DS01_BIN:$PATH" && export PATH ;;
esac
# root also gets the lifecycle jobs and services (libexec/ds01: ds01-idle-check --dry-run and the rest), to run
# them by hand; users do not (ds01d refuses them anyway).
if [ "${EUID:-$(id -u)}" = 0 ] && [ -d "$DS01_HOME/libexec/ds01" ]; then
    case ":$PATH:" in
        *":$DS01_HOME/libexec/ds01:"*) ;;
        *) PATH="$PATH:$DS01_HOME/libexec/ds01" && export PATH ;;
    esac
fi
if [ -n "${BASH_VERSION:-}" ] && [ -n "${PS1:-}" ] && [ -r "$DS01_HOME/completions/ds01.bash" ]; then
    . "$DS01_HOME/completions/ds01.bash"
fi
# The login greeting: one line when ds01 has something to say (ds01-greetings writes it every few
# minutes; a cat, so a login pays about a millisecond). Off: DS01_GREETING=off or
# ~/.config/ds01/no-greeting.
if [ -n "${PS1:-}" ] && [ "${DS01_GREETING:-on}" != off ] && [ ! -e "${HOME:-/}/.config/ds01/no-greeting" ]; then
    ds01_greeting="${DS01_GREETING_DIR:-/run/ds01/greetings}/${EUID:-$(id -u)}"
    [ -r "$ds01_greeting" ] && cat -- "$ds01_greeting"
    unset ds01_greeting
fi
# `help` is ds01's command reference (help --layer gpu, help container-run); bash's own topics
# (help cd, help -d pwd) still reach bash's builtin.
if [ -n "${BASH_VERSION:-}" ]; then
    help() {
        local ds01_help
        ds01_help=$(type -P help) || { builtin help "$@"; return; }
        case "${1:-}" in
            -d|-m|-s) builtin help "$@"; return ;;
            ""|-*) "$ds01_help" "$@"; return ;;
        esac
        if builtin help -s "$1" >/dev/null 2>&1; then
            builtin help "$@"
        else
            "$ds01_help" "$@"
        fi
    }
fi
