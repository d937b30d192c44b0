# bash completion for ds01 commands.
# Generated from ds01/registry.py by `make generate`; do not edit.
declare -gA _ds01_opts _ds01_valued _ds01_okind _ds01_args _ds01_verbs _ds01_verbcmd
_ds01_opts['user-setup']='--quick --no-ssh --force --json --table --config --help'
_ds01_opts['new-user']='--quick --no-ssh --force --json --table --config --help'
_ds01_opts['new-user-setup']='--quick --no-ssh --force --json --table --config --help'
_ds01_opts['project-init']='-t --type --desc -f --framework --git --no-git --devcontainer --no-devcontainer --build --no-build --blank --quick --guided --json --table --config --help'
_ds01_opts['new-project']='-t --type --desc -f --framework --git --no-git --devcontainer --no-devcontainer --build --no-build --blank --quick --guided --json --table --config --help'
_ds01_opts['new-project-setup']='-t --type --desc -f --framework --git --no-git --devcontainer --no-devcontainer --build --no-build --blank --quick --guided --json --table --config --help'
_ds01_opts['project-launch']='--rebuild --open --background --cpu-only --num-gpus --guided --json --config --help'
_ds01_opts['container-deploy']='--project -w --workspace -d --data -m --models --cpu-only --num-gpus --gpu-profile --full-gpu --wait --open --background --dry-run --guided --json --table --config --help'
_ds01_opts['container-retire']='-f --force --save-packages --images -a --all -t --timeout --dry-run --json --table --config --help'
_ds01_opts['container-create']='--image --arch -w --workspace -d --data -m --models --cpu-only --num-gpus --gpu-profile --full-gpu --claim --wait --dry-run --json --table --config --help'
_ds01_opts['container-start']='-a --all --json --table --config --help'
_ds01_opts['container-run']='--keep --config --help'
_ds01_opts['container-open']='--keep --config --help'
_ds01_opts['container-attach']='--keep --config --help'
_ds01_opts['container-exit']='--json --table --config --help'
_ds01_opts['container-stop']='-t --timeout -f --force -a --all --json --table --config --help'
_ds01_opts['container-pause']='-a --all --json --table --config --help'
_ds01_opts['container-unpause']='-a --all --json --table --config --help'
_ds01_opts['container-remove']='-f --force -a --all --json --table --config --help'
_ds01_opts['container-cleanup']='-f --force -a --all --json --table --config --help'
_ds01_opts['container-list']='-a --all --all-users --user -d --detailed --json --table --config --help'
_ds01_opts['image-create']='-f --framework --version --arch --base-image -t --type -p --packages -s --system -r --requirements --jupyter --no-jupyter --data-science --no-data-science --dockerfile --no-build --no-cache --guided --force --json --table --config --help'
_ds01_opts['image-update']='--add --remove --add-system -r --requirements --edit --rebuild --no-build --no-cache --recreate --json --table --config --help'
_ds01_opts['image-list']='-a --all-users --json --table --config --help'
_ds01_opts['image-delete']='-f --force --delete-dockerfile --json --table --config --help'
_ds01_opts['image-remove']='-f --force --delete-dockerfile --json --table --config --help'
_ds01_opts['image-catalog']='--arch --all-archs --json --table --config --help'
_ds01_opts['gpu-allocate']='--num-gpus --gpu-profile --full-gpu --user --ttl --wait --json --table --config --help'
_ds01_opts['gpu-release']='--json --table --config --help'
_ds01_opts['gpu-status']='--json --table --config --help'
_ds01_opts['gpu-user-status']='--json --table --config --help'
_ds01_opts['gpu-inventory']='--json --table --config --help'
_ds01_opts['gpu-queue']='--json --table --config --help'
_ds01_opts['ds01-gpu-queue']='--json --table --config --help'
_ds01_opts['mlc-create']='-arch --architecture -w --workspace_dir -d --data_dir -m --models_dir -g --num_gpus -i --info -s --script --config --help'
_ds01_opts['mlc-open']='-s --script --config --help'
_ds01_opts['mlc-list']='-a --all -au --all_users -arch --architecture -d --data -m --models -s --size -w --workspace --json --config --help'
_ds01_opts['mlc-start']='-d --detach -s --script --config --help'
_ds01_opts['mlc-stop']='-f --force -s --script --config --help'
_ds01_opts['mlc-remove']='-f --force -s --script --config --help'
_ds01_opts['mlc-stats']='--config --help'
_ds01_opts['check-limits']='--no-sample --json --table --config --help'
_ds01_opts['get-limits']='--no-sample --json --table --config --help'
_ds01_opts['resource-limits']='--docker-args --field --group --json --table --config --help'
_ds01_opts['get_resource_limits.py']='--docker-args --field --group --json --table --config --help'
_ds01_opts['help']='--layer --inside --host --json --table --help'
_ds01_opts['commands']='--layer --inside --host --json --table --help'
_ds01_opts['alias-list']='--layer --inside --host --json --table --help'
_ds01_opts['aliases']='--layer --inside --host --json --table --help'
_ds01_valued['user-setup']=' --config '
_ds01_valued['new-user']=' --config '
_ds01_valued['new-user-setup']=' --config '
_ds01_valued['project-init']=' -t --type --desc -f --framework --config '
_ds01_valued['new-project']=' -t --type --desc -f --framework --config '
_ds01_valued['new-project-setup']=' -t --type --desc -f --framework --config '
_ds01_valued['project-launch']=' --num-gpus --config '
_ds01_valued['container-deploy']=' --project -w --workspace -d --data -m --models --num-gpus --gpu-profile --wait --config '
_ds01_valued['container-retire']=' -t --timeout --config '
_ds01_valued['container-create']=' --image --arch -w --workspace -d --data -m --models --num-gpus --gpu-profile --claim --wait --config '
_ds01_valued['container-start']=' --config '
_ds01_valued['container-run']=' --config '
_ds01_valued['container-open']=' --config '
_ds01_valued['container-attach']=' --config '
_ds01_valued['container-exit']=' --config '
_ds01_valued['container-stop']=' -t --timeout --config '
_ds01_valued['container-pause']=' --config '
_ds01_valued['container-unpause']=' --config '
_ds01_valued['container-remove']=' --config '
_ds01_valued['container-cleanup']=' --config '
_ds01_valued['container-list']=' --user --config '
_ds01_valued['image-create']=' -f --framework --version --arch --base-image -t --type -p --packages -s --system -r --requirements --dockerfile --config '
_ds01_valued['image-update']=' --add --remove --add-system -r --requirements --config '
_ds01_valued['image-list']=' --config '
_ds01_valued['image-delete']=' --config '
_ds01_valued['image-remove']=' --config '
_ds01_valued['image-catalog']=' --arch --config '
_ds01_valued['gpu-allocate']=' --num-gpus --gpu-profile --user --ttl --wait --config '
_ds01_valued['gpu-release']=' --config '
_ds01_valued['gpu-status']=' --config '
_ds01_valued['gpu-user-status']=' --config '
_ds01_valued['gpu-inventory']=' --config '
_ds01_valued['gpu-queue']=' --config '
_ds01_valued['ds01-gpu-queue']=' --config '
_ds01_valued['mlc-create']=' -arch --architecture -w --workspace_dir -d --data_dir -m --models_dir -g --num_gpus --config '
_ds01_valued['mlc-open']=' --config '
_ds01_valued['mlc-list']=' --config '
_ds01_valued['mlc-start']=' --config '
_ds01_valued['mlc-stop']=' --config '
_ds01_valued['mlc-remove']=' --config '
_ds01_valued['mlc-stats']=' --config '
_ds01_valued['check-limits']=' --config '
_ds01_valued['get-limits']=' --config '
_ds01_valued['resource-limits']=' --field --config '
_ds01_valued['get_resource_limits.py']=' --field --config '
_ds01_valued['help']=' --layer '
_ds01_valued['commands']=' --layer '
_ds01_valued['alias-list']=' --layer '
_ds01_valued['aliases']=' --layer '
_ds01_okind['user-setup --config']='file'
_ds01_okind['new-user --config']='file'
_ds01_okind['new-user-setup --config']='file'
_ds01_okind['project-init -f']='frameworks'
_ds01_okind['project-init --framework']='frameworks'
_ds01_okind['project-init --config']='file'
_ds01_okind['new-project -f']='frameworks'
_ds01_okind['new-project --framework']='frameworks'
_ds01_okind['new-project --config']='file'
_ds01_okind['new-project-setup -f']='frameworks'
_ds01_okind['new-project-setup --framework']='frameworks'
_ds01_okind['new-project-setup --config']='file'
_ds01_okind['project-launch --config']='file'
_ds01_okind['container-deploy -w']='dir'
_ds01_okind['container-deploy --workspace']='dir'
_ds01_okind['container-deploy -d']='dir'
_ds01_okind['container-deploy --data']='dir'
_ds01_okind['container-deploy -m']='dir'
_ds01_okind['container-deploy --models']='dir'
_ds01_okind['container-deploy --gpu-profile']='profiles'
_ds01_okind['container-deploy --config']='file'
_ds01_okind['container-retire --config']='file'
_ds01_okind['container-create --image']='images'
_ds01_okind['container-create --arch']='archs'
_ds01_okind['container-create -w']='dir'
_ds01_okind['container-create --workspace']='dir'
_ds01_okind['container-create -d']='dir'
_ds01_okind['container-create --data']='dir'
_ds01_okind['container-create -m']='dir'
_ds01_okind['container-create --models']='dir'
_ds01_okind['container-create --gpu-profile']='profiles'
_ds01_okind['container-create --config']='file'
_ds01_okind['container-start --config']='file'
_ds01_okind['container-run --config']='file'
_ds01_okind['container-open --config']='file'
_ds01_okind['container-attach --config']='file'
_ds01_okind['container-exit --config']='file'
_ds01_okind['container-stop --config']='file'
_ds01_okind['container-pause --config']='file'
_ds01_okind['container-unpause --config']='file'
_ds01_okind['container-remove --config']='file'
_ds01_okind['container-cleanup --config']='file'
_ds01_okind['container-list --user']='users'
_ds01_okind['container-list --config']='file'
_ds01_okind['image-create -f']='frameworks'
_ds01_okind['image-create --framework']='frameworks'
_ds01_okind['image-create --version']='versions'
_ds01_okind['image-create --arch']='archs'
_ds01_okind['image-create -r']='file'
_ds01_okind['image-create --requirements']='file'
_ds01_okind['image-create --dockerfile']='file'
_ds01_okind['image-create --config']='file'
_ds01_okind['image-update -r']='file'
_ds01_okind['image-update --requirements']='file'
_ds01_okind['image-update --config']='file'
_ds01_okind['image-list --config']='file'
_ds01_okind['image-delete --config']='file'
_ds01_okind['image-remove --config']='file'
_ds01_okind['image-catalog --arch']='archs'
_ds01_okind['image-catalog --config']='file'
_ds01_okind['gpu-allocate --gpu-profile']='profiles'
_ds01_okind['gpu-allocate --user']='users'
_ds01_okind['gpu-allocate --config']='file'
_ds01_okind['gpu-release --config']='file'
_ds01_okind['gpu-status --config']='file'
_ds01_okind['gpu-user-status --config']='file'
_ds01_okind['gpu-inventory --config']='file'
_ds01_okind['gpu-queue --config']='file'
_ds01_okind['ds01-gpu-queue --config']='file'
_ds01_okind['mlc-create -arch']='archs'
_ds01_okind['mlc-create --architecture']='archs'
_ds01_okind['mlc-create -w']='dir'
_ds01_okind['mlc-create --workspace_dir']='dir'
_ds01_okind['mlc-create -d']='dir'
_ds01_okind['mlc-create --data_dir']='dir'
_ds01_okind['mlc-create -m']='dir'
_ds01_okind['mlc-create --models_dir']='dir'
_ds01_okind['mlc-create --config']='file'
_ds01_okind['mlc-open --config']='file'
_ds01_okind['mlc-list --config']='file'
_ds01_okind['mlc-start --config']='file'
_ds01_okind['mlc-stop --config']='file'
_ds01_okind['mlc-remove --config']='file'
_ds01_okind['mlc-stats --config']='file'
_ds01_okind['check-limits --config']='file'
_ds01_okind['get-limits --config']='file'
_ds01_okind['resource-limits --config']='file'
_ds01_okind['get_resource_limits.py --config']='file'
_ds01_args['user-setup']=''
_ds01_args['new-user']=''
_ds01_args['new-user-setup']=''
_ds01_args['project-init']=''
_ds01_args['new-project']=''
_ds01_args['new-project-setup']=''
_ds01_args['project-launch']='projects'
_ds01_args['container-deploy']='- image-or-framework'
_ds01_args['container-retire']='containers'
_ds01_args['container-create']='- image-or-framework versions'
_ds01_args['container-start']='stopped'
_ds01_args['container-run']='containers'
_ds01_args['container-open']='containers'
_ds01_args['container-attach']='running'
_ds01_args['container-exit']=''
_ds01_args['container-stop']='running'
_ds01_args['container-pause']='unpaused'
_ds01_args['container-unpause']='paused'
_ds01_args['container-remove']='inactive'
_ds01_args['container-cleanup']='inactive'
_ds01_args['container-list']=''
_ds01_args['image-create']=''
_ds01_args['image-update']='images'
_ds01_args['image-list']=''
_ds01_args['image-delete']='images'
_ds01_args['image-remove']='images'
_ds01_args['image-catalog']='frameworks'
_ds01_args['gpu-allocate']=''
_ds01_args['gpu-release']='inactive'
_ds01_args['gpu-status']=''
_ds01_args['gpu-user-status']='users'
_ds01_args['gpu-inventory']=''
_ds01_args['gpu-queue']=''
_ds01_args['ds01-gpu-queue']=''
_ds01_args['mlc-create']='- frameworks versions'
_ds01_args['mlc-open']='containers'
_ds01_args['mlc-list']=''
_ds01_args['mlc-start']='stopped'
_ds01_args['mlc-stop']='running'
_ds01_args['mlc-remove']='inactive'
_ds01_args['mlc-stats']=''
_ds01_args['check-limits']='users'
_ds01_args['get-limits']='users'
_ds01_args['resource-limits']='users'
_ds01_args['get_resource_limits.py']='users'
_ds01_args['help']='commands'
_ds01_args['commands']='commands'
_ds01_args['alias-list']='commands'
_ds01_args['aliases']='commands'
_ds01_verbs['container']='deploy retire create start run attach exit stop pause unpause remove list open cleanup'
_ds01_verbs['image']='create update list delete catalog remove'
_ds01_verbs['gpu']='allocate release status user-status inventory queue'
_ds01_verbs['project']='init launch'
_ds01_verbs['user']='setup new get-limits limits quota'
_ds01_verbs['check']='limits'
_ds01_verbs['get']='limits'
_ds01_verbs['mlc']='create open list start stop remove stats'
_ds01_verbs['ds01']='container image gpu project user check get mlc'
_ds01_verbcmd['container deploy']='container-deploy'
_ds01_verbcmd['container retire']='container-retire'
_ds01_verbcmd['container create']='container-create'
_ds01_verbcmd['container start']='container-start'
_ds01_verbcmd['container run']='container-run'
_ds01_verbcmd['container attach']='container-attach'
_ds01_verbcmd['container exit']='container-exit'
_ds01_verbcmd['container stop']='container-stop'
_ds01_verbcmd['container pause']='container-pause'
_ds01_verbcmd['container unpause']='container-unpause'
_ds01_verbcmd['container remove']='container-remove'
_ds01_verbcmd['container list']='container-list'
_ds01_verbcmd['container open']='container-run'
_ds01_verbcmd['container cleanup']='container-remove'
_ds01_verbcmd['image create']='image-create'
_ds01_verbcmd['image update']='image-update'
_ds01_verbcmd['image list']='image-list'
_ds01_verbcmd['image delete']='image-delete'
_ds01_verbcmd['image catalog']='image-catalog'
_ds01_verbcmd['image remove']='image-delete'
_ds01_verbcmd['gpu allocate']='gpu-allocate'
_ds01_verbcmd['gpu release']='gpu-release'
_ds01_verbcmd['gpu status']='gpu-status'
_ds01_verbcmd['gpu user-status']='gpu-user-status'
_ds01_verbcmd['gpu inventory']='gpu-inventory'
_ds01_verbcmd['gpu queue']='gpu-queue'
_ds01_verbcmd['project init']='project-init'
_ds01_verbcmd['project launch']='project-launch'
_ds01_verbcmd['user setup']='user-setup'
_ds01_verbcmd['user new']='user-setup'
_ds01_verbcmd['user get-limits']='check-limits'
_ds01_verbcmd['user limits']='check-limits'
_ds01_verbcmd['user quota']='check-limits'
_ds01_verbcmd['check limits']='check-limits'
_ds01_verbcmd['get limits']='check-limits'
_ds01_verbcmd['mlc create']='mlc-create'
_ds01_verbcmd['mlc open']='mlc-open'
_ds01_verbcmd['mlc list']='mlc-list'
_ds01_verbcmd['mlc start']='mlc-start'
_ds01_verbcmd['mlc stop']='mlc-stop'
_ds01_verbcmd['mlc remove']='mlc-remove'
_ds01_verbcmd['mlc stats']='mlc-stats'
_ds01_commands='user-setup new-user new-user-setup project-init new-project new-project-setup project-launch container-deploy container-retire container-create container-start container-run container-open container-attach container-exit container-stop container-pause container-unpause container-remove container-cleanup container-list image-create image-update image-list image-delete image-remove image-catalog gpu-allocate gpu-release gpu-status gpu-user-status gpu-inventory gpu-queue ds01-gpu-queue mlc-create mlc-open mlc-list mlc-start mlc-stop mlc-remove mlc-stats check-limits get-limits resource-limits get_resource_limits.py help commands alias-list aliases container image gpu project user check get mlc ds01'

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

complete -F _ds01_complete -o bashdefault user-setup new-user new-user-setup project-init new-project new-project-setup project-launch container-deploy container-retire container-create container-start container-run container-open container-attach container-exit container-stop container-pause container-unpause container-remove container-cleanup container-list image-create image-update image-list image-delete image-remove image-catalog gpu-allocate gpu-release gpu-status gpu-user-status gpu-inventory gpu-queue ds01-gpu-queue mlc-create mlc-open mlc-list mlc-start mlc-stop mlc-remove mlc-stats check-limits get-limits resource-limits get_resource_limits.py help commands alias-list aliases container image gpu project user check get mlc ds01
