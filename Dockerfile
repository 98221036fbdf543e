# Gyre: real-time messaging server, wire-compatible with Centrifugo v6.
# Build: docker build -t gyre .   Run: docker run -p 8000:8000 -v $PWD/config.json:/etc/gyre/config.json gyre --config /etc/gyre/config.json

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

# ---- runtime: production dependencies and the compiled output only ----
FROM node:20-alpine AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/web ./dist/web
COPY bin ./bin
COPY README.md ./
USER node
EXPOSE 8000
ENTRYPOINT ["node", "bin/gyre.js"]
