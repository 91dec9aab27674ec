# A private OpenSSH server for the tests of sessions adopted into jobs, beside the cluster of
# cluster.sh (source that first; needs a running cluster).
#
#   sshd_can_run                 why not, on stdout, and false, when sshd or pam_slurm_adopt is missing
#   sshd_start STACK             sshd on 127.0.0.1:$SSHD_PORT, its PAM service (/etc/pam.d/NAME,
#                                NAME its own, in SSHD_SERVICE, removed at cluster_stop) holding
#                                STACK, where @SERVICE@ is NAME; stopped by pid at cluster_stop
#   sshd_add_key USER            a key pair for USER (in USER's home) that this sshd accepts
#   ssh_as USER CMD              CMD over ssh as USER on this node (stdout and stderr)
#   syslog_capture               what PAM modules log goes to $SYSLOG_FILE (a stand-in syslogd on
#                                /dev/log, stopped at cluster_stop); false, saying why, when this
#                                machine has a syslog of its own
#
# The tests' PAM stack never touches the system's /etc/pam.d/sshd: OpenSSH 10 is told the PAM
# service (PAMServiceName); earlier ones name it after the name sshd runs under, a symlink. sshd gets
# SLURM_CONF in its environment, which pam_slurm_adopt, loaded into it, reads.

sshd_can_run() {
    [ -x /usr/sbin/sshd ] || { echo "no /usr/sbin/sshd (apt-get install openssh-server)"; return 1; }
    compgen -G "/lib/security/pam_slurm_adopt.so" >/dev/null ||
        compgen -G "/lib/*/security/pam_slurm_adopt.so" >/dev/null ||
        compgen -G "/usr/lib/*/security/pam_slurm_adopt.so" >/dev/null ||
        { echo "no pam_slurm_adopt.so (apt-get install libpam-slurm-adopt)"; return 1; }
    command -v ssh >/dev/null || { echo "no ssh client (apt-get install openssh-client)"; return 1; }
}

sshd_start() {
    local stack=$1 dir=$CLUSTER_DIR/sshd i
    # Linux-PAM looks its services up in lower case.
    SSHD_SERVICE=sshd-iso-$(tr '[:upper:]' '[:lower:]' <<<"${CLUSTER_ID#cluster.}")-$$
    SSHD_DIR=$dir
    mkdir -m 0755 "$dir" "$dir/keys" && mkdir -p -m 0755 /run/sshd || return 1
    ln -s /usr/sbin/sshd "$dir/$SSHD_SERVICE" || return 1
    printf '%s\n' "${stack//@SERVICE@/$SSHD_SERVICE}" >"/etc/pam.d/$SSHD_SERVICE" || return 1
    cluster_on_stop rm -f "/etc/pam.d/$SSHD_SERVICE"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" || return 1
    SSHD_PORT=$(_cluster_pick_ports 1)
    cat >"$dir/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $dir/keys/%u
LogLevel DEBUG1
PAMServiceName $SSHD_SERVICE
EOF
    "$dir/$SSHD_SERVICE" -t -f "$dir/sshd_config" 2>/dev/null ||
        sed -i '/^PAMServiceName /d' "$dir/sshd_config"
    SLURM_CONF=$SLURM_CONF "$dir/$SSHD_SERVICE" -D -f "$dir/sshd_config" -E "$dir/sshd.log" &
    SSHD_PID=$!
    cluster_on_stop sshd_stop
    for i in $(seq 100); do
        _cluster_port_is_listening "$SSHD_PORT" && return 0
        kill -0 "$SSHD_PID" 2>/dev/null || break
        sleep 0.1
    done
    diag "sshd did not start: $(tail -n 5 "$dir/sshd.log" 2>&1)"
    return 1
}

sshd_stop() {
    [ -n "${SSHD_PID:-}" ] || return 0
    kill "$SSHD_PID" 2>/dev/null
    wait "$SSHD_PID" 2>/dev/null
    SSHD_PID=''
}

sshd_add_key() {
    local user=$1 home key
    home=$(getent passwd "$user" | cut -d: -f6) || return 1
    key=$home/.ssh-$CLUSTER_ID
    rm -f "$key" "$key.pub"
    runuser -u "$user" -- ssh-keygen -q -t ed25519 -N '' -f "$key" || return 1
    install -m 0644 "$key.pub" "$SSHD_DIR/keys/$user"
    cluster_on_stop rm -f "$key" "$key.pub"
}

ssh_as() {
    local user=$1 home
    shift
    home=$(getent passwd "$user" | cut -d: -f6) || return 1
    run_as "$user" ssh -p "$SSHD_PORT" -i "$home/.ssh-$CLUSTER_ID" -o BatchMode=yes \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        "$user@127.0.0.1" "$@" </dev/null 2>&1
}

syslog_capture() {
    local sink=$top_builddir/t/tools/syslog-sink i
    [ -x "$sink" ] || { echo "t/tools/syslog-sink is not built"; return 1; }
    [ ! -e /dev/log ] || { echo "this machine has a syslog (/dev/log): PAM's messages go there"; return 1; }
    SYSLOG_FILE=$CLUSTER_DIR/syslog
    "$sink" /dev/log "$SYSLOG_FILE" &
    SYSLOG_PID=$!
    cluster_on_stop 'kill "$SYSLOG_PID" 2>/dev/null; wait "$SYSLOG_PID" 2>/dev/null'
    for i in $(seq 50); do
        [ -S /dev/log ] && return 0
        sleep 0.1
    done
    echo "the stand-in syslog did not start"
    return 1
}
