#!/usr/bin/env bats
# The profile snippet (etc/profile.d/ds01.sh): PATH order, idempotence, and `help`.

login() {  # run $1 in a bash that sourced the snippet, for this checkout (DS01_BIN: the venv's commands)
    env -i PATH=/usr/bin:/bin HOME="$BATS_TEST_TMPDIR" DS01_SOCKET="$DS01_SOCKET" DS01_HOME="$DS01_REPO" \
        DS01_BIN="$DS01_TEST_BIN" \
        bash --norc --noprofile -c ". \"\$DS01_HOME/etc/profile.d/ds01.sh\"; $1"
}

@test "ds01's bin/ comes first on PATH, once, however often the snippet is sourced" {
    run login '. "$DS01_HOME/etc/profile.d/ds01.sh"; echo "$PATH"'
    [ "$status" -eq 0 ]
    [ "$output" = "$DS01_TEST_BIN:/usr/bin:/bin" ]
}

@test "a user of an installed tree gets its bin/ and no lifecycle jobs on PATH (libexec is root's)" {
    run env -i PATH=/usr/bin:/bin HOME="$BATS_TEST_TMPDIR" DS01_HOME="$DS01_REPO" bash --norc --noprofile -c \
        '. "$DS01_HOME/etc/profile.d/ds01.sh"; command -v container-list; command -v ds01-idle-check || echo none'
    [ "${lines[0]}" = "$DS01_REPO/bin/container-list" ]
    [ "${lines[1]}" = "none" ]
}

@test "the commands resolve to ds01's bin/, ahead of the system's" {
    run login 'command -v container-list'
    [ "$output" = "$DS01_TEST_BIN/container-list" ]
}

@test "help is ds01's command reference; help cd is still bash's" {
    run login 'help --layer gpu'
    [ "$status" -eq 0 ]
    [[ "$output" == *"gpu-status"* ]]
    run login 'help cd'
    [ "$status" -eq 0 ]
    [[ "$output" == *"cd: cd"* ]]
}

@test "no greeting, and nothing on stdout, for a non-interactive shell" {
    run login 'true'
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}
