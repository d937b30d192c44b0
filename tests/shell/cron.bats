#!/usr/bin/env bats
# The cron file (etc/cron.d/ds01): every entry parses as cron reads it and names a job that exists.

entries() {  # the job lines: "minute hour dom month dow user command..."
    grep -Ev '^\s*(#|$)|^[A-Z0-9_]+=' "$DS01_REPO/etc/cron.d/ds01"
}

@test "every entry has five time fields, a user and a command" {
    [ "$(entries | wc -l)" -ge 4 ]
    while read -r minute hour dom month dow user command; do
        [[ "$minute" =~ ^[0-9*/,-]+$ && "$hour" =~ ^[0-9*/,-]+$ ]]
        [[ "$dom$month$dow" =~ ^[0-9*/,-]+$ ]]
        [ "$user" = root ]
        [ -n "$command" ]
    done < <(entries)
}

@test "every job is a program in libexec/ds01 that takes --json" {
    while read -r _ _ _ _ _ _ program rest; do
        name=${program#\$DS01_LIBEXEC/}
        [ "$name" != "$program" ]
        [ -x "$DS01_REPO/libexec/ds01/$name" ]
        [[ "$rest" == --json* ]]
        "$DS01_REPO/libexec/ds01/$name" --help | grep -q -- --json
    done < <(entries)
}

@test "each job appends to its own log, named after it" {
    while read -r _ _ _ _ _ _ program rest; do
        name=${program#\$DS01_LIBEXEC/}
        [[ "$rest" == *">> /var/log/ds01/$name.jsonl" ]]
    done < <(entries)
}

@test "no two jobs start on the same minute" {
    minutes=$(entries | awk '{print $1}' | while IFS=- read -r first _; do echo "${first%%/*}"; done)
    [ "$(printf '%s\n' "$minutes" | sort | uniq -d)" = "" ]
}

@test "cron's own PATH and the DS01_LIBEXEC variable are set before the jobs" {
    grep -q '^PATH=' "$DS01_REPO/etc/cron.d/ds01"
    grep -q '^DS01_LIBEXEC=/opt/ds01/current/libexec/ds01$' "$DS01_REPO/etc/cron.d/ds01"
}
