# syntax=docker/dockerfile:1
# hide: one static-ish binary on an image with nothing else in it.
#
# Built for linux/amd64 and linux/arm64 from the release binaries, so the
# image runs the same bytes as the release page and npm:
#
#   bun run release
#   docker buildx build --platform linux/amd64,linux/arm64 -t hide .
#
# Stage 1 (one per TARGETARCH) takes hide-linux-x64 or hide-linux-arm64 from
# dist/release, checks it against SHA256SUMS and gathers the few shared
# libraries it links to (ldd): scripts/release/image-rootfs.sh. Stage 2 starts
# from an empty image: the binary, those libraries, a passwd entry for the
# non-root user, and an empty /workspace — no shell, no package manager, no
# curl (the health check is `hide health`). test/ops/chroot.test.ts and
# test/release/image.test.ts run the same root layout under chroot, read-only,
# as an unprivileged user.

FROM debian:bookworm-slim AS rootfs
ARG TARGETARCH
RUN --mount=type=bind,source=dist/release,target=/release \
    --mount=type=bind,source=scripts/release/image-rootfs.sh,target=/image-rootfs.sh \
    sh /image-rootfs.sh /release "$TARGETARCH" /rootfs

FROM scratch
ARG VERSION=dev
COPY --from=rootfs /rootfs/ /
LABEL io.modelcontextprotocol.server.name="io.github.headless-ide/hide" \
      org.opencontainers.image.title="hide" \
      org.opencontainers.image.description="Headless IDE MCP: run commands and edit files in a workspace for AI agents, over MCP" \
      org.opencontainers.image.source="https://github.com/headless-ide/hide" \
      org.opencontainers.image.version="${VERSION}"
ENV HIDE_HOST=0.0.0.0 \
    HIDE_PORT=5000 \
    HIDE_WORKSPACE=/workspace \
    HIDE_AUDIT_LOG_FILE=- \
    HIDE_LOG_FORMAT=json \
    PATH=/usr/local/bin:/usr/bin:/bin
# Not /workspace: the server reads .env and .mcp_keys.json from its working
# directory at start-up, and sandboxed commands can write the workspace.
WORKDIR /
USER 65532:65532
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s CMD ["/hide", "health"]
ENTRYPOINT ["/hide"]
CMD ["serve"]
