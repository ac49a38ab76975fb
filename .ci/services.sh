# Shared services for one CI run, each in a space of its own that the run removes at exit:
# a Redis database no one else uses, and a RabbitMQ virtual host. Sourced by .ci/run.

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The first empty Redis database (1-15) this run could claim; the claim is a key in
# database 0 that expires, so a killed run frees its database within two hours.
claim_redis_db() {
    local db
    for db in $(seq 1 15); do
        if [ "$(redis-cli -n 0 SET "moderation-ci:db:$db" "$1" NX EX 7200)" = OK ]; then
            if [ "$(redis-cli -n "$db" DBSIZE)" = 0 ]; then
                echo "$db"
                return 0
            fi
            redis-cli -n 0 DEL "moderation-ci:db:$db" >/dev/null
        fi
    done
    return 1
}

release_redis_db() {
    redis-cli -n "$1" FLUSHDB >/dev/null
    redis-cli -n 0 DEL "moderation-ci:db:$1" >/dev/null
}

create_vhost() {
    rabbitmqctl -q add_vhost "$1" >/dev/null &&
        rabbitmqctl -q set_permissions -p "$1" guest ".*" ".*" ".*" >/dev/null
}

delete_vhost() {
    rabbitmqctl -q delete_vhost "$1" >/dev/null
}
