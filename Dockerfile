# hide: one static-ish binary on an image with nothing else in it.
#
# Stage 1 compiles dist/hide with Bun and gathers the few shared libraries the
# binary links to (ldd). Stage 2 starts from an empty image: the binary, those
# libraries, a passwd entry for the non-root user, and an empty /workspace —
# no shell, no package manager, no curl (the health check is `hide health`).
# test/ops/chroot.test.ts runs the same root layout under chroot, read-only,
# as an unprivileged user.

FROM oven/bun:1.4.5-debian AS build
WORKDIR /src
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production
COPY tsconfig.json ./
COPY src ./src
RUN bun run build \
 && mkdir -p /rootfs/etc /rootfs/workspace /rootfs/tmp \
 && cp dist/hide /rootfs/hide \
 && for lib in $(ldd dist/hide | grep -o '/[^ ]*'); do mkdir -p "/rootfs$(dirname "$lib")" && cp -L "$lib" "/rootfs$lib"; done \
 && echo 'hide:x:65532:65532:hide:/workspace:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'hide:x:65532:' > /rootfs/etc/group \
 && chown 65532:65532 /rootfs/workspace && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=build /rootfs/ /
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
