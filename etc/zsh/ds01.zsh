# ds01 for zsh: the commands on PATH and tab completion. Source it from /etc/zsh/zshrc (or
# ~/.zshrc) before or after compinit. DS01_HOME is where ds01 is installed.
: ${DS01_HOME:=/opt/ds01/current}
: ${DS01_BIN:=$DS01_HOME/bin}
[[ -d $DS01_BIN && ":$PATH:" != *":$DS01_BIN:"* ]] && path=($DS01_BIN $path)
if [[ -r $DS01_HOME/completions/_ds01 ]]; then
    fpath=($DS01_HOME/completions $fpath)
    if (( $+functions[compdef] )); then  # compinit already ran: register now
        source $DS01_HOME/completions/_ds01
    fi
fi
