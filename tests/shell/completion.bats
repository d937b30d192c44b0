#!/usr/bin/env bats
# Tab completion in an interactive bash that loaded the profile snippet, as a user's login shell does.

interactive() {  # run $1 in `bash -i` after the profile snippet, with ds01 from this checkout
    DS01_HOME="$DS01_REPO" DS01_BIN="$DS01_TEST_BIN" HOME="$BATS_TEST_TMPDIR" \
        bash --norc --noprofile -i -c ". \"\$DS01_HOME/etc/profile.d/ds01.sh\"; $1" 2>/dev/null
}

tab() {  # what TAB offers after the words given (the last one is being completed)
    interactive 'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _ds01_complete; printf "%s\n" "${COMPREPLY[@]}"' \
        | sort
}

@test "the profile snippet registers completion for every ds01 command in an interactive bash" {
    run interactive 'complete -p container-stop image-delete mlc-open check-limits container'
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "$output" | grep -c _ds01_complete)" -eq 5 ]
}

@test "TAB after container-stop offers the caller's running containers only" {
    container-create up "$BASE_IMAGE" --cpu-only >/dev/null
    container-create down "$BASE_IMAGE" --cpu-only >/dev/null
    container-start up >/dev/null
    result=$(interactive 'COMP_WORDS=(container-stop ""); COMP_CWORD=1; _ds01_complete; printf "%s\n" "${COMPREPLY[@]}"')
    [ "$result" = "up" ]
}

@test "TAB completes options and the space syntax's verbs" {
    result=$(interactive 'COMP_WORDS=(container-list --al); COMP_CWORD=1; _ds01_complete; printf "%s\n" "${COMPREPLY[@]}"')
    [[ "$result" == *"--all"* ]]
    result=$(interactive 'COMP_WORDS=(container st); COMP_CWORD=1; _ds01_complete; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "')
    [[ "$result" == *"start"* && "$result" == *"stop"* ]]
}

@test "a non-interactive shell loads no completion (scripts pay nothing)" {
    run env DS01_HOME="$DS01_REPO" DS01_BIN="$DS01_TEST_BIN" bash --norc --noprofile -c \
        '. "$DS01_HOME/etc/profile.d/ds01.sh"; complete -p container-stop'
    [ "$status" -ne 0 ]
}
