#!/usr/bin/env bats
# DS01's names and the space syntax: the same command, the same exit code, the same records.

@test "container list, ds01 container list and container-list print the same records" {
    container-create box "$BASE_IMAGE" --cpu-only >/dev/null
    direct=$(container-list -a --json | jq -c '{name, status}')
    [ "$(container list -a --json | jq -c '{name, status}')" = "$direct" ]
    [ "$(ds01 container list -a --json | jq -c '{name, status}')" = "$direct" ]
    [ -n "$direct" ]
}

@test "DS01's legacy names run their command: container-cleanup removes, get-limits shows the limits" {
    container-create old "$BASE_IMAGE" --cpu-only >/dev/null
    run container-cleanup old
    [ "$status" -eq 0 ]
    [ -z "$(container-list -a --json)" ]
    run get-limits --json
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "$output" | head -n1 | jq -r .user)" = "$(id -un)" ]
}

@test "DS01's dispatcher verbs: user get-limits and check limits are check-limits" {
    expected=$(check-limits --json --no-sample | jq -c .user)
    [ "$(user get-limits --json --no-sample | jq -c .user)" = "$expected" ]
    [ "$(check limits --json --no-sample | jq -c .user)" = "$expected" ]
}

@test "an unknown verb is a usage error naming the verbs that exist" {
    run container frobnicate
    [ "$status" -eq 2 ]
    [[ "$output" == *"container: error:"* ]]
    [[ "$output" == *"list"* ]]
}

@test "AIME's mlc syntax: mlc list and mlc-list are one command" {
    [ "$(mlc list)" = "$(mlc-list)" ]
}

@test "a legacy name on a terminal-less pipe prints no note into the data" {
    run bash -c 'container-cleanup nothing-here 2>/dev/null; true'
    [ -z "$output" ]
}
