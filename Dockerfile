# syntax=docker/dockerfile:1
# The Node.js 24 LTS patch release CI tests (keep in step with .ci/node24-version).
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY ui ./ui
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Relative data paths resolve against the config's folder: /etc/portcullis/data is the /data volume, so
# the example config (./data/store, ./data/portcullis.db) writes where the non-root user may.
RUN groupadd --system portcullis && useradd --system --gid portcullis --home /app portcullis \
  && mkdir -p /data /etc/portcullis && chown portcullis:portcullis /data && ln -s /data /etc/portcullis/data
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json config.example.json config.schema.json ./
COPY migrations ./migrations
COPY config.example.json /etc/portcullis/config.json
# The example names its schema beside it, for editing the config in place.
COPY config.schema.json /etc/portcullis/config.schema.json
USER portcullis
VOLUME ["/data"]
EXPOSE 5000
# Asks the running proxy on the port (and scheme) its config names, so a changed listen or TLS still checks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s \
  CMD ["node", "dist/cli.js", "healthcheck", "--config", "/etc/portcullis/config.json"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/portcullis/config.json"]
