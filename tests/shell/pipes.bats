#!/usr/bin/env bats
# Pipes: the records one command prints are the targets the next one takes (NDJSON on stdout when piped).

count_status() {  # how many of the caller's containers are in state $1
    container-list -a --json | jq -r .status | grep -cx "$1" || true
}

@test "container-list | container-stop stops every running container of the caller" {
    container-create one "$BASE_IMAGE" --cpu-only >/dev/null
    container-create two "$BASE_IMAGE" --cpu-only >/dev/null
    container-start one two >/dev/null
    [ "$(count_status running)" -eq 2 ]
    run bash -c 'container-list | container-stop'
    [ "$status" -eq 0 ]
    [ "$(count_status running)" -eq 0 ]
    [ "$(count_status exited)" -eq 2 ]
    # what container-stop printed is records too: one per container, each now stopped
    [ "$(printf '%s\n' "$output" | jq -r .name | sort | tr '\n' ' ')" = "one two " ]
}

@test "container-list -a | container-remove removes the stopped ones and keeps the running one" {
    container-create keep "$BASE_IMAGE" --cpu-only >/dev/null
    container-create gone "$BASE_IMAGE" --cpu-only >/dev/null
    container-start keep >/dev/null
    run bash -c 'container-list -a --json | jq -c "select(.status != \"running\")" | container-remove'
    [ "$status" -eq 0 ]
    [ "$(container-list -a --json | jq -r .name)" = "keep" ]
}

@test "an empty pipe is an empty batch: exit 0, nothing on stdout" {
    run bash -c 'container-list | container-stop'
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

@test "plain lines and a JSON array are targets too" {
    container-create alpha "$BASE_IMAGE" --cpu-only >/dev/null
    container-create beta "$BASE_IMAGE" --cpu-only >/dev/null
    run bash -c 'printf "alpha\n" | container-start'
    [ "$status" -eq 0 ]
    run bash -c "echo '[\"alpha\", \"beta\"]' | container-stop"
    [ "$status" -eq 0 ]
    [ "$(count_status running)" -eq 0 ]
}

@test "a batch exits with its worst: one missing name makes the pipe exit 4, the rest still acted on" {
    container-create here "$BASE_IMAGE" --cpu-only >/dev/null
    run bash -c 'printf "here\nnot-there\n" | container-start'
    [ "$status" -eq 4 ]
    [[ "$output" == *"container-start: error:"* ]]
    [ "$(count_status running)" -eq 1 ]
}

@test "image-list | image-delete deletes the caller's images, and the Dockerfiles stay" {
    printf 'FROM %s\nRUN true\n' "$BASE_IMAGE" > "$BATS_TEST_TMPDIR/Dockerfile"
    image-create first --dockerfile "$BATS_TEST_TMPDIR/Dockerfile" >/dev/null 2>&1
    image-create second --dockerfile "$BATS_TEST_TMPDIR/Dockerfile" >/dev/null 2>&1
    [ "$(image-list --json | jq -s length)" -eq 2 ]
    run bash -c 'image-list | image-delete'
    [ "$status" -eq 0 ]
    [ "$(image-list --json | jq -s length)" -eq 0 ]
}
