# Gyre: real-time messaging server, wire-compatible with Centrifugo v6.
# Build: docker build -t gyre .
# The image runs Centrifugo's command lines unchanged: the working directory is /centrifugo and
# `centrifugo` on PATH starts Gyre, so a Centrifugo compose service only changes its image:
#   docker run -p 8000:8000 -v $PWD/config.json:/centrifugo/config.json gyre centrifugo -c config.json
#   docker run -p 8000:8000 -v $PWD/config.json:/centrifugo/config.json gyre      (reads config.json)
#   docker run gyre --config /etc/gyre/config.json                               (flags go to gyre)

# ---- build: compile TypeScript and the admin UI ----
FROM node:20-alpine AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Dependencies first (cached layer); the prepare script needs the sources, so skip it here.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY scripts ./scripts
COPY web ./web
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY bin ./bin
RUN npm run build
# What the npm package leaves out stays out of the image too: compiled unit tests and source maps.
RUN find dist/src \( -name '*.map' -o -name '*.test.js' -o -name '*.test.d.ts' -o -name '*.test-helper.js' -o -name '*.test-helper.d.ts' \) -delete

# ---- runtime: production dependencies and the compiled output only ----
FROM node:20-alpine AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/web ./dist/web
COPY bin ./bin
COPY proto ./proto
COPY README.md LICENSE ./
# `gyre` and its alias `centrifugo` on PATH; the entry point routes flags and subcommands to gyre.
COPY deploy/docker/gyre /usr/local/bin/gyre
COPY deploy/docker/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN ln -s /usr/local/bin/gyre /usr/local/bin/centrifugo && mkdir /centrifugo && chown node:node /centrifugo
USER node
WORKDIR /centrifugo
EXPOSE 8000
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["centrifugo"]
