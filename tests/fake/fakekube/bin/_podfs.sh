# Sourced by the fake's file tools (mv, tee, rm, chown, stat): a container sees
# its own filesystem, so absolute paths that exist under the pod's files
# ($FAKE_POD_FS: config, data volume), or whose folder does, are used there;
# everything else is the host's, as a container overlays its image.
podfs_exec() {
    tool=$1
    shift
    [ -n "$FAKE_POD_FS" ] || exec "$tool" "$@"
    for a do
        shift
        case $a in
        /*) if [ -e "$FAKE_POD_FS$a" ] || [ -d "$FAKE_POD_FS${a%/*}" ]; then a=$FAKE_POD_FS$a; fi ;;
        esac
        set -- "$@" "$a"
    done
    exec "$tool" "$@"
}
