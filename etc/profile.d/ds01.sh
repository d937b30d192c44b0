# ds01: put the commands on PATH and load tab completion in interactive bash.
# Install: copy to /etc/profile.d/ds01.sh. DS01_HOME is where ds01 is installed (a checkout
# with its .venv, made by `make deps`); DS01_BIN overrides where the commands are.
DS01_HOME=${DS01_HOME:-/opt/ds01}
DS01_BIN=${DS01_BIN:-$DS01_HOME/.venv/bin}
case ":$PATH:" in
    *":$DS01_BIN:"*) ;;
    *) [ -d "$DS01_BIN" ] && PATH="$DS01_BIN:$PATH" && export PATH ;;
esac
if [ -n "${BASH_VERSION:-}" ] && [ -n "${PS1:-}" ] && [ -r "$DS01_HOME/completions/ds01.bash" ]; then
    . "$DS01_HOME/completions/ds01.bash"
fi
