# syntax=docker/dockerfile:1
# One image, every role; the command picks it: controller | agent | testbed | probe | demo.
#   docker build -t liveprobe .
#   docker run --rm liveprobe agent --region eu-west
# NOT built on the development machine (no container engine there): docs/operations/deploy.md says what was
# tested instead (test/deploy/image-contract.test.ts runs the processes as uid 1000 against a read-only
# install tree laid out like /app below, with this file's environment).

# ---- build: compile TypeScript, then keep only the production dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund
# The whole source (.dockerignore keeps node_modules, dist and .git out): the build compiles the TypeScript
# projects (bench imports test helpers) and bundles the command-center page into dist/ui.
COPY . .
RUN npm run -s build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime ----
FROM node:20-bookworm-slim
# Debian's Chromium plays H.264/AAC through hls.js; ffmpeg feeds the testbed; nats-server backs `demo`;
# tini is PID 1 (reaps Chromium's zombies, forwards SIGTERM so the agent drains); fonts for page rendering.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      chromium ffmpeg nats-server tini fonts-dejavu-core ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# The install tree belongs to root and is never written at run time (read-only root filesystem friendly).
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# Static assets read at run time: the browser harness page, and the shipped alerting rules, which the
# controller finds by walking up from dist/ (controller.rulesFile / LIVEPROBE_RULES_FILE overrides it).
COPY probes/browser/harness ./probes/browser/harness
COPY deploy/rules.yaml ./deploy/rules.yaml
# the shipped rules link their runbooks as runbooks/<rule-id>, served by the controller from here
COPY docs/runbooks ./docs/runbooks
COPY deploy/scenarios ./deploy/scenarios

# Everything written at run time lives under /var/lib/liveprobe (mount volumes here; Kubernetes: emptyDirs):
#   spool/  reports waiting while NATS is unreachable        tmp/  Chromium profiles (--user-data-dir)
#   home/   Chromium's caches and crash database ($HOME)
RUN mkdir -p /var/lib/liveprobe/spool /var/lib/liveprobe/tmp /var/lib/liveprobe/home \
 && chown -R node:node /var/lib/liveprobe

# Every Chromium flag, in one variable an operator can edit (it replaces the built-in list). --no-sandbox:
# Chromium's own sandbox needs user namespaces, which the default seccomp profiles of Docker and of
# Kubernetes' RuntimeDefault refuse to unprivileged processes; the container (non-root, no capabilities,
# read-only root) is the boundary instead. Where user namespaces are allowed, drop the flag.
ENV NODE_ENV=production \
    HOME=/var/lib/liveprobe/home \
    TMPDIR=/var/lib/liveprobe/tmp \
    LIVEPROBE_SPOOL_DIR=/var/lib/liveprobe/spool \
    LIVEPROBE_CHROMIUM=/usr/lib/chromium/chromium \
    LIVEPROBE_CHROMIUM_ARGS="--no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --autoplay-policy=no-user-gesture-required --window-size=680,420" \
    LIVEPROBE_HOST=0.0.0.0 \
    LIVEPROBE_PORT=8080 \
    LIVEPROBE_AGENT_HTTP_HOST=0.0.0.0 \
    LIVEPROBE_AGENT_HTTP_PORT=9464

# uid 1000 (the node image's `node` user); Kubernetes checks runAsNonRoot against this numeric id.
USER 1000:1000
EXPOSE 8080 9464

# GET /healthz of the role that runs: the controller on its API port, the agent on its HTTP port. The
# testbed and one-shot `probe` serve neither (compose gives the testbed its own check).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${LIVEPROBE_AGENT_HTTP_PORT}/healthz" >/dev/null \
   || curl -fsS "http://127.0.0.1:${LIVEPROBE_PORT}/healthz" >/dev/null

ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["--help"]
