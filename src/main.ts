import closeWithGrace from "close-with-grace";
import { DevAdminKeyError, ensureDevAdminKey } from "./auth/dev-admin-key.js";
import { loadSecurityKeys, SecuritySetupError } from "./auth/security-keys.js";
import { composeService } from "./compose.js";
import { ConfigError, loadConfig } from "./config.js";
import { EngineSetupError, prepareEngine } from "./engine/factory.js";
import { loadTls } from "./http/hardening.js";
import { metricsListenAddress } from "./http/metrics-listener.js";
import { LandingZoneError, loadLandingZone } from "./onboarding/landing-zone.js";
import { createLogger } from "./logger.js";
import { assertSpaceToStart, createDiskSpace, DiskSpaceError, MIB, storageCause, watchedDirs } from "./store/disk-space.js";
import { openDb } from "./store/open.js";

/** Composition root: config → landing zone → store → service → listen; graceful drain on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.LOG_LEVEL);
  // A full disk would otherwise abort inside PGlite (or the engine's set-up) with no word about space.
  await assertSpaceToStart(createDiskSpace({ dirs: watchedDirs(config), minFreeBytes: config.DISK_MIN_FREE_MB * MIB }));
  // Before anything is touched: ENGINE=pulumi needs the CLI on PATH and a usable state passphrase.
  const makeEngine = await prepareEngine(config, logger);
  const landingZone = await loadLandingZone(config.LANDING_ZONE_FILE);
  // Audit and ticket keys live outside the database; production refuses to start without them.
  const keys = await loadSecurityKeys(config, logger);
  const tls = config.TLS_CERT_FILE !== undefined && config.TLS_KEY_FILE !== undefined ? loadTls(config.TLS_CERT_FILE, config.TLS_KEY_FILE) : undefined;
  const db = await openDb({
    dataDir: config.DATA_DIR,
    databaseUrl: config.DATABASE_URL,
    onError: (err) => logger.error({ err }, "store background error"),
  });
  if (config.MODE === "development") {
    const dev = await ensureDevAdminKey(db, config.DATA_DIR);
    logger.info(
      { path: dev.path, keyId: dev.keyId },
      `development: ${dev.created ? "created an admin API key" : "admin API key"} in ${dev.path}; send it as -H "authorization: Bearer $(cat ${dev.path})"`,
    );
  }
  const service = await composeService({ config, landingZone, db, logger, engineFactory: makeEngine, keys, tls });
  await service.start();
  await service.app.listen({ port: config.PORT, host: config.HOST });
  if (service.metricsListener !== undefined && config.METRICS_LISTEN !== undefined) {
    await service.metricsListener.listen(metricsListenAddress(config.METRICS_LISTEN));
    logger.info({ address: config.METRICS_LISTEN }, "metrics: GET /metrics without credentials on its own listener (METRICS_LISTEN)");
  }
  logger.info(
    { database: db.description, engine: service.engine.name, concurrency: config.MAX_CONCURRENT_OPERATIONS },
    config.ENGINE === "simulated"
      ? "engine: simulated — programs run under Pulumi mocks, nothing is created in AWS"
      : "engine: pulumi — /readyz turns ready once the AWS plugin is installed",
  );

  closeWithGrace({ delay: (config.SHUTDOWN_GRACE_SECONDS + 5) * 1000 }, async ({ signal, err }) => {
    if (err) logger.error({ err }, "fatal error; shutting down");
    else logger.info({ signal }, "shutting down: draining running operations");
    await service.close(config.SHUTDOWN_GRACE_SECONDS * 1000);
  });
}

main().catch((err: unknown) => {
  if (
    err instanceof ConfigError ||
    err instanceof EngineSetupError ||
    err instanceof LandingZoneError ||
    err instanceof SecuritySetupError ||
    err instanceof DevAdminKeyError ||
    err instanceof DiskSpaceError
  ) {
    for (const line of err.message.split("\n")) console.error(`saas-bridge: ${line}`);
  } else if (storageCause(err) !== undefined) {
    // Space ran out after the check (below DISK_MIN_FREE_MB=0, or filled meanwhile).
    console.error(`saas-bridge: start-up failed: ${storageCause(err)}`);
  } else {
    console.error("saas-bridge: start-up failed:", err);
  }
  process.exit(1);
});
