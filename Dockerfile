# The aonode image, built offline from the project's own static binary: no base image, nothing
# pulled. Build it with scripts/docker-build.sh, which compiles aonode (CGO_ENABLED=0) and
# assembles the build context this file expects:
#   aonode                      the static binary
#   rootfs/etc/aonode/          config.yaml (configs/container/config.yaml)
#   rootfs/var/lib/aonode/      the empty data directory, owned by the node's user
#   rootfs/tmp/                 mode 1777
FROM scratch
COPY rootfs/etc/ /etc/
COPY rootfs/tmp/ /tmp/
# A named volume mounted here starts as a copy of this directory, owner included, so the
# non-root user can write to it.
COPY --chown=10001:10001 rootfs/var/ /var/
COPY aonode /aonode
# Numeric: scratch has no /etc/passwd to look a name up in.
USER 10001:10001
VOLUME ["/var/lib/aonode"]
# 8734: HTTP (SU, CU, MU, gateway, /metrics, /explorer); 4001: libp2p (TCP and QUIC).
EXPOSE 8734/tcp 4001/tcp 4001/udp
# aonode run stops on SIGTERM: in-flight requests get limits.shutdown-timeout, the store is
# closed and fsynced. Give `docker stop -t` at least that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/aonode"]
CMD ["run", "--config", "/etc/aonode/config.yaml"]
