"""bash and zsh completion scripts, generated from the registry and the click options (`make generate`).

Static facts (names, options, verbs, which options take values) are written into the scripts;
dynamic values (the caller's containers in the right states, images, catalog frameworks and
versions, MIG profiles, logins) come from `ds01 __complete KIND WORDS...` (ds01/complete.py).
"""

import importlib
from typing import Any

from .. import registry

HEADER = "# Generated from ds01/registry.py by `make generate`; do not edit."

# Value kind of an option, by any of its long names; "" = a value with no completion.
OPTION_KINDS = {
    "--framework": "frameworks", "--version": "versions", "--arch": "archs", "--architecture": "archs",
    "--gpu-profile": "profiles", "--config": "file", "--requirements": "file", "--dockerfile": "file",
    "--workspace": "dir", "--data": "dir", "--models": "dir", "--workspace_dir": "dir", "--data_dir": "dir",
    "--models_dir": "dir", "--image": "images", "--base-image": "", "--user": "users",
}


def command_facts(command):
    """(options, {option: kind} for options that take a value) of one command."""

    from ..cli._common import standard

    cli = standard(importlib.import_module(command.module).cli)
    ctx = cli.make_context(command.name, [], resilient_parsing=True)  # context_settings apply (-h)
    options, valued = [], {}
    for param in cli.get_params(ctx):
        if param.param_type_name != "option":
            continue
        names = [*param.opts, *param.secondary_opts]
        options += names
        if not param.is_flag and not param.count:
            kind = next((OPTION_KINDS[n] for n in param.opts if n in OPTION_KINDS), "")
            for name in param.opts:
                valued[name] = kind
    return options, valued


def _facts():
    facts = {}
    for command in registry.COMMANDS:
        options, valued = command_facts(command)
        for name in (command.name, *command.aliases, *command.legacy):
            facts[name] = (command, options, valued)
    return facts


def _dispatchers():
    result = {}
    for noun in registry.DISPATCHERS:
        table = registry.verbs(noun)
        if table:
            result[noun] = {verb: command.name for verb, (command, name) in table.items()}
            result[noun] = dict(sorted(result[noun].items(), key=lambda item: _legacy(noun, item[0])))
    return result


def _legacy(noun, verb):
    """Legacy verbs (container open) still complete, after the current ones."""
    command, name = registry.verbs(noun)[verb]
    return name != command.name and name.startswith(noun + "-")


def _q(text):
    """Single-quoted for bash and zsh (the values are our own names, never user input)."""
    return "'" + text.replace("'", "'\\''") + "'"


def _tables(facts, dispatchers, shell):
    """The data both scripts share, as associative arrays (bash: one key per line; zsh: key/value lists)."""
    tables: dict[str, dict[str, Any]] = {name: {} for name in ("opts", "valued", "okind", "args", "verbs", "verbcmd")}
    for name, (command, options, valued) in facts.items():
        tables["opts"][name] = " ".join(options)
        tables["valued"][name] = " " + " ".join(valued) + " "
        tables["args"][name] = " ".join(k or "-" for k in command.args)
        for option, kind in valued.items():
            if kind:
                tables["okind"][f"{name} {option}"] = kind
    for noun, table in dispatchers.items():
        tables["verbs"][noun] = " ".join(table)
        for verb, target in table.items():
            tables["verbcmd"][f"{noun} {verb}"] = target
    tables["verbs"]["ds01"] = " ".join(dispatchers)
    names = " ".join(f"_ds01_{t}" for t in tables)
    lines = [("declare -gA " if shell == "bash" else "typeset -gA ") + names]
    for table, values in tables.items():
        if shell == "bash":
            lines += [f"_ds01_{table}[{_q(key)}]={_q(value)}" for key, value in values.items()]
        else:
            lines.append(f"_ds01_{table}=(")
            lines += [f"  {_q(key)} {_q(value)}" for key, value in values.items()]
            lines.append(")")
    lines.append(f"_ds01_commands={_q(' '.join(registry.all_names()))}")
    return lines


BASH_BODY = r'''
# The command a line runs after its dispatchers, and where its own words start.
_ds01_resolve() {
    local -a w=("$@")
    _ds01_cmd=${w[0]##*/}
    _ds01_start=1
    if [[ $_ds01_cmd == ds01 && ${#w[@]} -gt 2 ]]; then
        _ds01_cmd=${w[1]}
        _ds01_start=2
    fi
    if [[ -n ${_ds01_verbs[$_ds01_cmd]:-} && $_ds01_cmd != ds01 && ${#w[@]} -gt $((_ds01_start + 1)) ]]; then
        _ds01_cmd=${_ds01_verbcmd["$_ds01_cmd ${w[$_ds01_start]}"]:-}
        _ds01_start=$((_ds01_start + 1))
    fi
}

_ds01_values() {
    local kind=$1
    shift
    case $kind in
        commands) printf '%s\n' $_ds01_commands ;;
        ""|-) ;;
        *) command ds01 __complete "$kind" "$@" 2>/dev/null ;;
    esac
}

_ds01_complete() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local -a before=("${COMP_WORDS[@]:0:COMP_CWORD}")
    _ds01_resolve "${COMP_WORDS[@]:0:COMP_CWORD+1}"
    COMPREPLY=()
    if [[ -n ${_ds01_verbs[$_ds01_cmd]:-} && $COMP_CWORD -eq $_ds01_start ]]; then
        COMPREPLY=($(compgen -W "${_ds01_verbs[$_ds01_cmd]}" -- "$cur"))
        return 0
    fi
    [[ -z $_ds01_cmd || -z ${_ds01_opts[$_ds01_cmd]+set} ]] && return 0
    if [[ $COMP_CWORD -gt $_ds01_start && ${_ds01_valued[$_ds01_cmd]} == *" $prev "* ]]; then
        local kind=${_ds01_okind["$_ds01_cmd $prev"]:-}
        case $kind in
            dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
            file) COMPREPLY=($(compgen -f -- "$cur")) ;;
            "") ;;
            *) COMPREPLY=($(compgen -W "$(_ds01_values "$kind" "${before[@]}")" -- "$cur")) ;;
        esac
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${_ds01_opts[$_ds01_cmd]}" -- "$cur"))
        return 0
    fi
    # which positional this is: words after the command that are neither options nor their values
    local i n=0 word
    for ((i = _ds01_start; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == -* ]]; then
            [[ ${_ds01_valued[$_ds01_cmd]} == *" $word "* ]] && ((i++))
        else
            ((n++))
        fi
    done
    local -a kinds=(${_ds01_args[$_ds01_cmd]})
    ((${#kinds[@]})) || return 0
    ((n >= ${#kinds[@]})) && n=$((${#kinds[@]} - 1))
    COMPREPLY=($(compgen -W "$(_ds01_values "${kinds[n]}" "${before[@]}")" -- "$cur"))
    return 0
}
'''

ZSH_BODY = r'''
_ds01() {
    local cmd=${words[1]:t} start=2 kind cur=${words[CURRENT]} prev=${words[CURRENT-1]}
    if [[ $cmd == ds01 && $CURRENT -gt 2 ]]; then
        cmd=${words[2]}
        start=3
    fi
    if [[ $cmd == ds01 || ( -n ${_ds01_verbs[$cmd]} && $CURRENT -eq $start ) ]]; then
        (( CURRENT == start )) && compadd -- ${=_ds01_verbs[$cmd]}
        return
    fi
    if [[ -n ${_ds01_verbs[$cmd]} ]]; then
        cmd=${_ds01_verbcmd[$cmd ${words[start]}]}
        (( start++ ))
    fi
    [[ -z $cmd || -z ${_ds01_opts[$cmd]+set} ]] && return 1
    if (( CURRENT > start )) && [[ ${_ds01_valued[$cmd]} == *" $prev "* ]]; then
        kind=${_ds01_okind[$cmd $prev]}
        case $kind in
            dir) _files -/ ;;
            file) _files ;;
            "") ;;
            *) compadd -- ${(f)"$(command ds01 __complete $kind ${words[1,CURRENT-1]} 2>/dev/null)"} ;;
        esac
        return
    fi
    if [[ $cur == -* ]]; then
        compadd -- ${=_ds01_opts[$cmd]}
        return
    fi
    local i n=0
    for (( i = start; i < CURRENT; i++ )); do
        if [[ ${words[i]} == -* ]]; then
            [[ ${_ds01_valued[$cmd]} == *" ${words[i]} "* ]] && (( i++ ))
        else
            (( n++ ))
        fi
    done
    local -a kinds
    kinds=(${=_ds01_args[$cmd]})
    (( ${#kinds} )) || return 1
    (( n >= ${#kinds} )) && n=$(( ${#kinds} - 1 ))
    kind=${kinds[n+1]}
    case $kind in
        commands) compadd -- ${=_ds01_commands} ;;
        -) ;;
        *) compadd -- ${(f)"$(command ds01 __complete $kind ${words[1,CURRENT-1]} 2>/dev/null)"} ;;
    esac
}
'''


def bash_script():
    facts, dispatchers = _facts(), _dispatchers()
    names = list(facts) + list(dispatchers) + ["ds01"]
    lines = [f"# bash completion for ds01 commands.\n{HEADER}", *_tables(facts, dispatchers, "bash"),
             BASH_BODY, f"complete -F _ds01_complete -o bashdefault {' '.join(names)}"]
    return "\n".join(lines) + "\n"


def zsh_script():
    facts, dispatchers = _facts(), _dispatchers()
    names = list(facts) + list(dispatchers) + ["ds01"]
    lines = [f"#compdef {' '.join(names)}", HEADER, *_tables(facts, dispatchers, "zsh"), ZSH_BODY,
             'if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _ds01 "$@"; else compdef _ds01 '
             + " ".join(names) + "; fi"]
    return "\n".join(lines) + "\n"


def expected_completions():
    return {"completions/ds01.bash": bash_script(), "completions/_ds01": zsh_script()}
