# syntax=docker/dockerfile:1
# saas-bridge service image with the real engine (ENGINE=pulumi). Build: docker build -t saas-bridge .
# It contains the Pulumi CLI at the SDK's version, the AWS provider plugin at @pulumi/aws's version
# (installed at build time, so operations need no plugin download), production dependencies only, and runs
# as the non-root `node` user under tini. test/docker/dockerfile.test.ts keeps the two versions equal to
# the installed packages; bump them together with package.json.
#
# No secrets are baked in, and in production the service refuses to start with an empty or default
# passphrase. Supply one at run time, either as a mounted secret file:
#   docker run -p 8080:8080 -v saas-bridge-data:/var/lib/saas-bridge \
#     -v "$PWD/landing-zone.json:/etc/saas-bridge/landing-zone.json:ro" \
#     -v "$PWD/passphrase:/run/secrets/pulumi-passphrase:ro" \
#     -e PULUMI_CONFIG_PASSPHRASE_FILE=/run/secrets/pulumi-passphrase saas-bridge
# (readable by uid 1000), or use a KMS key instead: -e PULUMI_SECRETS_PROVIDER='awskms://alias/x?region=eu-west-1'.
# AWS credentials are never baked in either: use a role, and name the variables that carry it in
# ENGINE_ENV_PASSTHROUGH (engine children get no other part of the service's environment).

ARG PULUMI_VERSION=3.248.0
ARG PULUMI_AWS_VERSION=7.48.0

# The official CLI image ships the CLI and language hosts under /pulumi/bin. Here it also downloads the
# AWS plugin, which the runtime stage copies; the service installs it into its own PULUMI_HOME (on the
# data volume) from that folder with `pulumi plugin install --file`, offline.
FROM pulumi/pulumi-base:${PULUMI_VERSION} AS pulumi
ARG PULUMI_VERSION
ARG PULUMI_AWS_VERSION
ENV PULUMI_SKIP_UPDATE_CHECK=true
# The plugin cache is created 0700 for root: a+rX lets the non-root runtime user read the copied folder.
RUN test "$(pulumi version)" = "v${PULUMI_VERSION}" \
 && PULUMI_HOME=/opt/pulumi-home pulumi plugin install resource aws "v${PULUMI_AWS_VERSION}" \
 && test -x "/opt/pulumi-home/plugins/resource-aws-v${PULUMI_AWS_VERSION}/pulumi-resource-aws" \
 && chmod -R a+rX /opt/pulumi-home/plugins

# Production dependencies, in their own stage: the layer is reused until package*.json change.
# --ignore-scripts matches package.json `allowScripts` (no dependency install scripts run).
FROM node:20.20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY programs ./programs
# The bootstrap command for the first admin key (node dist/tools/keys.js create …).
COPY tools/keys.ts ./tools/keys.ts
# The OpenAPI document's request examples (src/http/openapi-examples.ts imports them; the build emits them).
COPY examples/acme.json examples/globex.json ./examples/
# The web console (issue 18): Vite builds it into dist/console, then its files are pre-compressed.
COPY console ./console
COPY tools/compress-console.ts ./tools/compress-console.ts
RUN npm run build

FROM node:20.20-bookworm-slim AS runtime
ARG PULUMI_VERSION
ARG PULUMI_AWS_VERSION
LABEL org.opencontainers.image.title="saas-bridge" \
      org.opencontainers.image.description="Onboards SaaS providers into an AWS landing zone with Pulumi Automation API" \
      io.pulumi.cli.version="${PULUMI_VERSION}" \
      io.pulumi.aws.version="${PULUMI_AWS_VERSION}"
# tini is PID 1 (so no `docker run --init`): it forwards SIGTERM to node alone, which drains operations,
# and reaps orphaned pulumi/plugin processes that the engine's child processes leave behind.
# ca-certificates: the Go CLI and AWS plugin verify TLS against the system store, which the node slim
# image purges (node itself bundles its own).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=pulumi /pulumi/bin /pulumi/bin
COPY --from=pulumi /opt/pulumi-home/plugins/resource-aws-v${PULUMI_AWS_VERSION} /opt/pulumi/plugins/resource-aws-v${PULUMI_AWS_VERSION}
# PULUMI_HOME is left unset: the service defaults it to $DATA_DIR/pulumi-home, on the volume.
ENV PATH=/pulumi/bin:$PATH \
    ENGINE=pulumi \
    MODE=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/var/lib/saas-bridge \
    LANDING_ZONE_FILE=/etc/saas-bridge/landing-zone.json \
    PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_AWS_PLUGIN_PATH=/opt/pulumi/plugins/resource-aws-v${PULUMI_AWS_VERSION}
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./package.json
COPY --from=build /app/dist ./dist
# A placeholder: mount the real landing zone over it.
COPY examples/landing-zone.json /etc/saas-bridge/landing-zone.json
RUN mkdir -p /var/lib/saas-bridge && chown 1000:1000 /var/lib/saas-bridge
# Numeric uid of the image's `node` user, so Kubernetes runAsNonRoot can verify it.
USER 1000:1000
VOLUME ["/var/lib/saas-bridge"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
