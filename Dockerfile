# One image, every role: the entrypoint is the `liveprobe` bin (demo | testbed | controller | agent | probe).
# Not built on the development machine (no Docker engine there); see README "What was not run".

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY shared ./shared
COPY probes ./probes
COPY agent ./agent
COPY controller ./controller
COPY testbed ./testbed
COPY cli ./cli
COPY bench ./bench
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
# Debian's Chromium plays H.264/AAC; ffmpeg feeds the testbed; nats-server backs `liveprobe demo`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium ffmpeg nats-server fonts-dejavu-core ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    LIVEPROBE_CHROMIUM=/usr/lib/chromium/chromium
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The browser harness page is a static asset read at run time.
COPY --from=build /app/probes/browser/harness ./probes/browser/harness
USER node
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["--help"]
