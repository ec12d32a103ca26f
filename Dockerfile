# syntax=docker/dockerfile:1
# saas-bridge service image. Build: docker build -t saas-bridge .
# The real Pulumi engine (CLI + AWS plugin baked in, ENGINE=pulumi) arrives with issue #4; until then the
# image runs the simulated engine, and every response says engine: "simulated".

FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY programs ./programs
RUN npm run build && npm prune --omit=dev

FROM node:20.20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/var/lib/saas-bridge \
    ENGINE=simulated \
    LANDING_ZONE_FILE=/etc/saas-bridge/landing-zone.json
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY examples/landing-zone.json /etc/saas-bridge/landing-zone.json
RUN mkdir -p /var/lib/saas-bridge && chown node:node /var/lib/saas-bridge
USER node
VOLUME ["/var/lib/saas-bridge"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/main.js"]
